using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>Settings of dynamic int8 quantization, and their one default (see <see cref="StaticQuantConfig"/>).</summary>
public sealed record DynamicQuantConfig
{
    /// <summary>One weight scale per output column (MatMul/Gemm), channel (Conv) or gate column (LSTM).</summary>
    public bool PerChannel { get; init; } = true;

    /// <summary>7-bit weights: on by default only on x86 CPUs without VNNI (see <see cref="Int8Cpu"/>).</summary>
    public bool ReduceRange { get; init; } = Int8Cpu.NeedsReducedRange;

    /// <summary>Keep float the nodes that run slower quantized on this machine (see <see cref="LatencyAwareSelection"/>).</summary>
    public bool LatencyAware { get; init; } = true;

    /// <summary>Keep a MatMul activation's few outlier channels in float (see <see cref="OutlierChannels"/>).</summary>
    public bool OutlierChannels { get; init; } = true;

    /// <summary>Embedding tables (Gather from a constant 2-D float table): int8 rows with one scale per row.</summary>
    public bool Embeddings { get; init; } = true;
    public IReadOnlySet<string> ExcludeOps { get; init; } = new HashSet<string>();
    public IReadOnlySet<string> ExcludeNodes { get; init; } = new HashSet<string>();
}

/// <summary>
/// Dynamic int8: weights become int8 initializers; activations are quantized to uint8 at run time. Each op family has
/// its rewrite (<see cref="DynamicOpQuantizerRegistry"/>): MatMul/Gemm → MatMulInteger, Conv → ConvInteger,
/// LSTM → com.microsoft DynamicQuantizeLSTM; Gather embeddings get int8 rows.
/// </summary>
public sealed class DynamicQuantizer(DynamicQuantConfig config)
{
    public List<NodeProto> Candidates(GraphEditor g) => g.Graph.Node.Where(n =>
        DynamicOpQuantizerRegistry.For(n) is { } q && !IsExcluded(n) && q.Accepts(n, g, out _)).ToList();

    /// <summary>Why nodes the user did not exclude stay float, where the reason is worth a pass note.</summary>
    public List<string> Refusals(GraphEditor g) => g.Graph.Node
        .Select(n => DynamicOpQuantizerRegistry.For(n) is { } q && !IsExcluded(n) && !q.Accepts(n, g, out var note) ? note : null)
        .OfType<string>().ToList();

    private bool IsExcluded(NodeProto n) => config.ExcludeOps.Contains(n.OpType) || config.ExcludeNodes.Contains(n.Name);

    /// <summary>Name of the quantized copy of <paramref name="output"/> in a <see cref="Quantize"/> shadow model.</summary>
    public static string ShadowName(string output) => output + "_int8_shadow";

    /// <summary>The output a node's error is measured on: its first one that is used (an LSTM may leave Y unnamed).</summary>
    public static string ProbeOutput(NodeProto node) => node.Output.First(o => o.Length > 0);

    /// <param name="shadow">
    /// Keep every float node and add its quantized version beside it, reading the same float input and writing
    /// <see cref="ShadowName"/>: one run then gives each node's own quantization error, free of upstream error.
    /// </param>
    public ModelProto Quantize(ModelProto preprocessed, bool shadow = false)
    {
        var model = preprocessed.Clone();
        var g = new GraphEditor(model);
        var rewrite = new DynamicRewrite(g, config);
        foreach (var node in Candidates(g))
        {
            var outputs = node.Output.Select(o => shadow && o.Length > 0 ? ShadowName(o) : o).ToList();
            DynamicOpQuantizerRegistry.For(node)!.Rewrite(node, rewrite, outputs);
            if (!shadow) g.Graph.Node.Remove(node);
        }
        if (config.Embeddings && !shadow)
            foreach (var gather in Embeddings(g)) QuantizeEmbedding(g, gather);
        g.Refresh();
        g.RemoveUnusedInitializers();
        g.TopologicalSort();
        return model;
    }

    /// <summary>Gathers along axis 0 from a constant 2-D float table of at least 256 rows (word/position embeddings).</summary>
    public List<NodeProto> Embeddings(GraphEditor g) => g.Graph.Node.Where(n =>
        n.Domain is "" or "ai.onnx" && n.OpType == "Gather" && !config.ExcludeOps.Contains("Gather") && !config.ExcludeNodes.Contains(n.Name)
        && GraphEditor.AttrInt(n, "axis", 0) == 0 && !g.IsInitializer(n.Input[1])
        && g.Initializers.TryGetValue(n.Input[0], out var t) && t.DataType == TensorData.Float && t.Dims.Count == 2 && t.Dims[0] >= 256).ToList();

    /// <summary>
    /// Table → int8 with a symmetric scale per row; Gather reads int8 rows and their scales, then Cast·Mul restores
    /// float: only the gathered rows are dequantized, and each row keeps its own precision.
    /// </summary>
    private void QuantizeEmbedding(GraphEditor g, NodeProto gather)
    {
        var table = gather.Input[0];
        var t = g.Initializers[table];
        long rows = t.Dims[0], cols = t.Dims[1];
        var (values, scales) = QuantMath.QuantizeWeights(TensorData.ToFloats(t), [rows, cols], 0, config.ReduceRange);
        var q = table + "_quantized";
        if (!g.IsInitializer(q)) q = g.AddInitializer(TensorData.FromInt8s(q, [rows, cols], values)).Name;
        var s = table + "_row_scale";
        if (!g.IsInitializer(s)) s = g.AddInitializer(TensorData.FromFloats(s, [rows, 1], scales)).Name;
        var prefix = gather.Name.Length > 0 ? gather.Name : gather.Output[0];
        var rowsOut = g.UniqueName(prefix + "_int8_rows");
        g.AddNode("Gather", [q, gather.Input[1]], [rowsOut], prefix + "_int8_Gather");
        var asFloat = g.UniqueName(prefix + "_rows_float");
        GraphEditor.SetAttr(g.AddNode("Cast", [rowsOut], [asFloat], prefix + "_Cast"), "to", (long)TensorData.Float);
        var rowScales = g.UniqueName(prefix + "_scales");
        g.AddNode("Gather", [s, gather.Input[1]], [rowScales], prefix + "_scale_Gather");
        g.AddNode("Mul", [asFloat, rowScales], [gather.Output[0]], prefix + "_dequantize_Mul");
        g.Graph.Node.Remove(gather);
    }
}
