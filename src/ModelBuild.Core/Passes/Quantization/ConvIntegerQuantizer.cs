using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// Conv with a constant weight: DynamicQuantizeLinear → ConvInteger → Cast → Mul(x_scale · w_scale) (→ Add bias).
/// The weight is symmetric int8 with one zero point (0), its scales per output channel ([M, 1, …] so they broadcast
/// over the output's channel axis) or one per tensor. ONNX Runtime 1.31's CPU ConvInteger takes int8 or uint8 weights
/// but only a single weight zero point (a per-channel zero point vector fails at run time), so per-channel lives in the
/// scales alone; grouped and depthwise Convs run exactly (tests/…/OrtIntegerKernelFactsTests pins all of this).
/// ONNX Runtime has no fused kernel for this chain: the four nodes run as they are.
/// </summary>
public sealed class ConvIntegerQuantizer : IDynamicOpQuantizer
{
    public IReadOnlyCollection<string> OpTypes { get; } = ["Conv"];

    public bool Accepts(NodeProto node, GraphEditor g, out string? note)
    {
        note = null;
        if (node.Input.Count < 2 || g.IsInitializer(node.Input[0])) return false;
        if (!g.Initializers.TryGetValue(node.Input[1], out var w) || w.DataType != TensorData.Float || w.Dims.Count < 3) return false;
        if (node.Input.Count > 2 && node.Input[2].Length > 0
            && !(g.Initializers.TryGetValue(node.Input[2], out var b) && b.DataType == TensorData.Float && b.Dims.Count == 1))
        {
            // The bias is added after rescaling, reshaped to [M, 1, …]: that needs it as a constant.
            note = $"Conv '{node.Name}' kept in float: its bias is not a constant 1-D tensor";
            return false;
        }
        return true;
    }

    public void Rewrite(NodeProto node, DynamicRewrite r, IReadOnlyList<string> outputs)
    {
        var g = r.Graph;
        var output = outputs[0];
        var prefix = DynamicRewrite.Prefix(node, outputs);
        var xq = r.Activation(node.Input[0]);
        var wq = r.Weight(node.Input[1] + "^conv", () => QuantizeWeight(g, r.Config, node.Input[1]));

        var int32 = g.UniqueName(prefix + "_ConvInteger_out");
        var conv = g.AddNode("ConvInteger", [xq.Q, wq.Q, xq.Zp, wq.Zp], [int32], prefix + "_ConvInteger");
        // ConvInteger has Conv's attributes (auto_pad, dilations, group, kernel_shape, pads, strides); padding holds x's zero point, i.e. 0.0.
        conv.Attribute.AddRange(node.Attribute.Select(a => a.Clone()));

        var hasBias = node.Input.Count > 2 && node.Input[2].Length > 0;
        var scaled = r.Rescale(int32, xq.Scale, wq.Scale, prefix, hasBias ? g.UniqueName(prefix + "_scaled") : output);
        if (hasBias)
        {
            var bias = r.Weight(node.Input[2] + "^channel", () => ChannelShaped(g, node.Input[2], g.Initializers[node.Input[1]].Dims.Count - 2));
            g.AddNode("Add", [scaled, bias], [output], prefix + "_bias_Add");
        }
    }

    /// <summary>W [M, C/group, k…] → int8 of the same shape; scales [M, 1, …] per channel or a scalar; one zero point 0.</summary>
    private static (string Q, string Scale, string Zp) QuantizeWeight(GraphEditor g, DynamicQuantConfig config, string name)
    {
        var t = g.Initializers[name];
        var dims = t.Dims.ToArray();
        var (values, scales) = QuantMath.QuantizeWeights(TensorData.ToFloats(t), dims, config.PerChannel ? 0 : -1, config.ReduceRange);
        IEnumerable<long> scaleDims = config.PerChannel ? ChannelDims(dims[0], dims.Length - 2) : [];
        return (g.AddInitializer(TensorData.FromInt8s(name + "_quantized", dims, values)).Name,
                g.AddInitializer(TensorData.FromFloats(name + "_scale", scaleDims, scales)).Name,
                g.AddInitializer(TensorData.FromInt8s(name + "_zero_point", [], [0])).Name);
    }

    /// <summary>A per-channel vector [M] as [M, 1, …] (<paramref name="trailing"/> ones): it then broadcasts over [N, M, spatial…].</summary>
    private static string ChannelShaped(GraphEditor g, string name, int trailing)
    {
        var t = g.Initializers[name];
        return g.AddInitializer(TensorData.FromFloats(name + "_per_channel", ChannelDims(t.Dims[0], trailing), TensorData.ToFloats(t))).Name;
    }

    private static long[] ChannelDims(long channels, int trailing) => [channels, .. Enumerable.Repeat(1L, trailing)];
}
