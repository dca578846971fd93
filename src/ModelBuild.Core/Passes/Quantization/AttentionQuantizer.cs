using ModelBuild.Onnx;
using ModelBuild.Passes.Transformers;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// com.microsoft Attention (see <see cref="AttentionFusion"/>) → DynamicQuantizeLinear(input) → com.microsoft QAttention:
/// the packed Q/K/V weights int8 (per column of the 3·hidden outputs, or per tensor), the input uint8 with its scale
/// computed per run; the bias stays float, and the attention itself (scores, softmax, context) runs in float inside
/// the kernel. Only the plain self-attention form is taken: no past state, no extra attention bias, no rotary.
/// </summary>
public sealed class AttentionQuantizer : IDynamicOpQuantizer
{
    public IReadOnlyCollection<string> OpTypes { get; } = ["Attention"];
    public string Domain => AttentionFusion.Domain;

    public bool Accepts(NodeProto node, GraphEditor g, out string? note)
    {
        note = null;
        return node.Input.Count is >= 2 and <= 4 && !g.IsInitializer(node.Input[0])
            && g.Initializers.TryGetValue(node.Input[1], out var w) && w.DataType == TensorData.Float && w.Dims.Count == 2
            && (node.Input.Count < 3 || node.Input[2].Length == 0 || g.IsInitializer(node.Input[2]))
            && node.Output.Skip(1).All(o => o.Length == 0)
            && GraphEditor.AttrInt(node, "do_rotary", 0) == 0 && GraphEditor.Attr(node, "qkv_hidden_sizes") is null
            && GraphEditor.AttrInt(node, "past_present_share_buffer", 0) == 0;
    }

    public void Rewrite(NodeProto node, DynamicRewrite r, IReadOnlyList<string> outputs)
    {
        var g = r.Graph;
        var aq = r.Activation(node.Input[0]);
        var wq = r.Weight(node.Input[1], () => MatMulIntegerQuantizer.QuantizeWeight(g, r.Config, node.Input[1], transposed: false));
        var columns = g.Initializers[node.Input[1]].Dims[1];
        var bias = node.Input.Count > 2 && node.Input[2].Length > 0 ? node.Input[2]
            : g.AddInitializer(TensorData.FromFloats(node.Input[1] + "_zero_bias", [columns], new float[columns])).Name;
        var mask = node.Input.Count > 3 ? node.Input[3] : "";
        var prefix = DynamicRewrite.Prefix(node, outputs);
        var q = g.AddNode("QAttention", [aq.Q, wq.Q, bias, aq.Scale, wq.Scale, mask, aq.Zp, wq.Zp], [outputs[0]], prefix + "_QAttention",
            AttentionFusion.Domain);
        foreach (var a in node.Attribute) q.Attribute.Add(a.Clone());
    }
}
