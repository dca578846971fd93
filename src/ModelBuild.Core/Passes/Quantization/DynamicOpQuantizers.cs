using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>One op family's dynamic int8 rewrite: int8 weights offline, activations quantized at run time.</summary>
public interface IDynamicOpQuantizer
{
    IReadOnlyCollection<string> OpTypes { get; }

    /// <summary>The op types' domain: "" for ONNX's own ops.</summary>
    string Domain => "";

    /// <summary>
    /// Whether <paramref name="node"/> can be rewritten. <paramref name="note"/> explains a refusal worth telling the
    /// user (a layer that stays float for a reason they can act on); null for the ordinary ones (e.g. a MatMul of two activations).
    /// </summary>
    bool Accepts(NodeProto node, GraphEditor graph, out string? note);

    /// <summary>
    /// Adds the quantized nodes, writing <paramref name="outputs"/> (the node's own, or shadow names); the caller removes the node.
    /// </summary>
    void Rewrite(NodeProto node, DynamicRewrite rewrite, IReadOnlyList<string> outputs);
}

/// <summary>
/// The state one quantization run shares between op quantizers: the graph, the settings, and the tensors already
/// quantized, so an activation read by several layers gets one DynamicQuantizeLinear and a shared weight one copy.
/// </summary>
public sealed class DynamicRewrite(GraphEditor graph, DynamicQuantConfig config)
{
    private readonly Dictionary<string, (string Q, string Scale, string Zp)> _activations = new(StringComparer.Ordinal);
    private readonly Dictionary<string, object> _weights = new(StringComparer.Ordinal);

    public GraphEditor Graph { get; } = graph;
    public DynamicQuantConfig Config { get; } = config;

    /// <summary>The uint8 form of a float activation (DynamicQuantizeLinear): quantized tensor, scale, zero point.</summary>
    public (string Q, string Scale, string Zp) Activation(string tensor)
    {
        if (_activations.TryGetValue(tensor, out var q)) return q;
        q = (Graph.UniqueName(tensor + "_quantized"), Graph.UniqueName(tensor + "_scale"), Graph.UniqueName(tensor + "_zero_point"));
        Graph.AddNode("DynamicQuantizeLinear", [tensor], [q.Q, q.Scale, q.Zp], tensor + "_DynamicQuantizeLinear");
        _activations[tensor] = q;
        return q;
    }

    /// <summary>A weight quantized once per <paramref name="key"/> (the initializer and how it is laid out).</summary>
    public T Weight<T>(string key, Func<T> quantize) where T : notnull
    {
        if (_weights.TryGetValue(key, out var w)) return (T)w;
        var made = quantize();
        _weights[key] = made;
        return made;
    }

    /// <summary>Cast(int32 → float) · (activation scale × weight scale): what every integer kernel's output goes through.</summary>
    public string Rescale(string int32, string activationScale, string weightScale, string prefix, string output)
    {
        var asFloat = Graph.UniqueName(prefix + "_cast_out");
        GraphEditor.SetAttr(Graph.AddNode("Cast", [int32], [asFloat], prefix + "_Cast"), "to", (long)TensorData.Float);
        var scale = Graph.UniqueName(prefix + "_scale_product");
        Graph.AddNode("Mul", [activationScale, weightScale], [scale], prefix + "_scale_Mul");
        Graph.AddNode("Mul", [asFloat, scale], [output], prefix + "_output_Mul");
        return output;
    }

    /// <summary>Name prefix for the nodes replacing <paramref name="node"/>.</summary>
    public static string Prefix(NodeProto node, IReadOnlyList<string> outputs) =>
        node.Name.Length > 0 ? node.Name : outputs.First(o => o.Length > 0);
}

/// <summary>The dynamic op quantizers by op type: ai.onnx ops, and com.microsoft Attention (a fused transformer's).</summary>
public static class DynamicOpQuantizerRegistry
{
    private static readonly Dictionary<string, IDynamicOpQuantizer> ByOp = new IDynamicOpQuantizer[]
    {
        new MatMulIntegerQuantizer(), new ConvIntegerQuantizer(), new LstmQuantizer(), new AttentionQuantizer(),
    }.SelectMany(q => q.OpTypes.Select(op => (op, q))).ToDictionary(p => p.op, p => p.q, StringComparer.Ordinal);

    public static IReadOnlyCollection<string> OpTypes => ByOp.Keys;

    public static IDynamicOpQuantizer? For(NodeProto node) =>
        ByOp.GetValueOrDefault(node.OpType) is { } q && q.Domain == (node.Domain == "ai.onnx" ? "" : node.Domain) ? q : null;
}
