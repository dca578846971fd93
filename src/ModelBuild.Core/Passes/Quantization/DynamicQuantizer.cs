using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>Settings of dynamic int8 quantization.</summary>
public sealed record DynamicQuantConfig
{
    public bool PerChannel { get; init; }
    public bool ReduceRange { get; init; }
    /// <summary>Embedding tables (Gather from a constant 2-D float table): int8 rows with one scale per row.</summary>
    public bool Embeddings { get; init; } = true;
    public IReadOnlySet<string> ExcludeOps { get; init; } = new HashSet<string>();
    public IReadOnlySet<string> ExcludeNodes { get; init; } = new HashSet<string>();
}

/// <summary>
/// Dynamic int8: weights become int8 initializers; activations are quantized to uint8 at run time.
/// MatMul/Gemm with a constant B become DynamicQuantizeLinear → MatMulInteger → Cast → Mul(a_scale·b_scale)
/// (→ Add bias), which ONNX Runtime fuses into one DynamicQuantizeMatMul kernel.
/// </summary>
public sealed class DynamicQuantizer(DynamicQuantConfig config)
{
    public static readonly IReadOnlyCollection<string> OpTypes = ["MatMul", "Gemm"];

    public List<NodeProto> Candidates(GraphEditor g) => g.Graph.Node.Where(n =>
        n.Domain is "" or "ai.onnx" && OpTypes.Contains(n.OpType) && !config.ExcludeOps.Contains(n.OpType) && !config.ExcludeNodes.Contains(n.Name)
        && !g.IsInitializer(n.Input[0])
        && g.Initializers.TryGetValue(n.Input[1], out var b) && b.DataType == TensorData.Float && b.Dims.Count == 2
        && (n.OpType == "MatMul" || GraphEditor.AttrInt(n, "transA", 0) == 0)).ToList();

    /// <summary>Name of the quantized copy of <paramref name="output"/> in a <see cref="Quantize"/> shadow model.</summary>
    public static string ShadowName(string output) => output + "_int8_shadow";

    /// <param name="shadow">
    /// Keep every float node and add its quantized version beside it, reading the same float input and writing
    /// <see cref="ShadowName"/>: one run then gives each node's own quantization error, free of upstream error.
    /// </param>
    public ModelProto Quantize(ModelProto preprocessed, bool shadow = false)
    {
        var model = preprocessed.Clone();
        var g = new GraphEditor(model);
        var activations = new Dictionary<string, (string Q, string Scale, string Zp)>(StringComparer.Ordinal);
        var weights = new Dictionary<string, (string Q, string Scale, string Zp)>(StringComparer.Ordinal);
        foreach (var node in Candidates(g))
        {
            var a = node.Input[0];
            if (!activations.TryGetValue(a, out var aq))
            {
                aq = (g.UniqueName(a + "_quantized"), g.UniqueName(a + "_scale"), g.UniqueName(a + "_zero_point"));
                g.AddNode("DynamicQuantizeLinear", [a], [aq.Q, aq.Scale, aq.Zp], a + "_DynamicQuantizeLinear");
                activations[a] = aq;
            }
            var transB = node.OpType == "Gemm" && GraphEditor.AttrInt(node, "transB", 0) == 1;
            var key = node.Input[1] + (transB ? "^T" : "");
            if (!weights.TryGetValue(key, out var wq)) weights[key] = wq = QuantizeWeight(g, node.Input[1], transB);

            var output = shadow ? ShadowName(node.Output[0]) : node.Output[0];
            var prefix = node.Name.Length > 0 ? node.Name : output;
            var int32 = g.UniqueName(prefix + "_MatMulInteger_out");
            g.AddNode("MatMulInteger", [aq.Q, wq.Q, aq.Zp, wq.Zp], [int32], prefix + "_MatMulInteger");
            var asFloat = g.UniqueName(prefix + "_cast_out");
            GraphEditor.SetAttr(g.AddNode("Cast", [int32], [asFloat], prefix + "_Cast"), "to", (long)TensorData.Float);
            var scale = g.UniqueName(prefix + "_scale_product");
            g.AddNode("Mul", [aq.Scale, wq.Scale], [scale], prefix + "_scale_Mul");

            var hasBias = node.OpType == "Gemm" && node.Input.Count > 2 && node.Input[2].Length > 0;
            var alpha = node.OpType == "Gemm" ? GraphEditor.AttrFloat(node, "alpha", 1) : 1f;
            var scaled = hasBias || alpha != 1 ? g.UniqueName(prefix + "_scaled") : output;
            g.AddNode("Mul", [asFloat, scale], [scaled], prefix + "_output_Mul");
            if (alpha != 1)
            {
                var alphaName = g.AddInitializer(TensorData.FromFloats(prefix + "_alpha", [], [alpha])).Name;
                var next = hasBias ? g.UniqueName(prefix + "_alpha_out") : output;
                g.AddNode("Mul", [scaled, alphaName], [next], prefix + "_alpha_Mul");
                scaled = next;
            }
            if (hasBias)
            {
                var beta = GraphEditor.AttrFloat(node, "beta", 1);
                var c = node.Input[2];
                if (beta != 1)
                {
                    var betaName = g.AddInitializer(TensorData.FromFloats(prefix + "_beta", [], [beta])).Name;
                    var cb = g.UniqueName(prefix + "_beta_c");
                    g.AddNode("Mul", [c, betaName], [cb], prefix + "_beta_Mul");
                    c = cb;
                }
                g.AddNode("Add", [scaled, c], [output], prefix + "_bias_Add");
            }
            if (!shadow) g.Graph.Node.Remove(node);
        }
        if (config.Embeddings && !shadow)
            foreach (var gather in Embeddings(g)) QuantizeEmbedding(g, gather);
        g.Refresh();
        foreach (var name in g.Initializers.Keys.ToList()) g.RemoveInitializerIfUnused(name);
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

    /// <summary>B as int8 [K, N] (a transposed Gemm B is transposed here), scales per column N or one per tensor.</summary>
    private (string Q, string Scale, string Zp) QuantizeWeight(GraphEditor g, string name, bool transposed)
    {
        var t = g.Initializers[name];
        var w = TensorData.ToFloats(t);
        long rows = t.Dims[0], cols = t.Dims[1];
        if (transposed)
        {
            var tr = new float[w.Length];
            for (long r = 0; r < rows; r++)
                for (long c = 0; c < cols; c++) tr[c * rows + r] = w[r * cols + c];
            w = tr;
            (rows, cols) = (cols, rows);
        }
        var (values, scales) = QuantMath.QuantizeWeights(w, [rows, cols], config.PerChannel ? 1 : -1, config.ReduceRange);
        long[] paramDims = config.PerChannel ? [cols] : [];
        return (g.AddInitializer(TensorData.FromInt8s(name + "_quantized", [rows, cols], values)).Name,
                g.AddInitializer(TensorData.FromFloats(name + "_scale", paramDims, scales)).Name,
                g.AddInitializer(TensorData.FromInt8s(name + "_zero_point", paramDims, new sbyte[scales.Length])).Name);
    }
}
