using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// MatMul/Gemm with a constant 2-D B: DynamicQuantizeLinear → MatMulInteger → Cast → Mul(a_scale·b_scale) (→ Add bias),
/// which ONNX Runtime fuses into one DynamicQuantizeMatMul kernel. B is int8, per column N or per tensor.
/// </summary>
public sealed class MatMulIntegerQuantizer : IDynamicOpQuantizer
{
    public IReadOnlyCollection<string> OpTypes { get; } = ["MatMul", "Gemm"];

    public bool Accepts(NodeProto node, GraphEditor g, out string? note)
    {
        note = null;
        return !g.IsInitializer(node.Input[0])
            && g.Initializers.TryGetValue(node.Input[1], out var b) && b.DataType == TensorData.Float && b.Dims.Count == 2
            && (node.OpType == "MatMul" || GraphEditor.AttrInt(node, "transA", 0) == 0);
    }

    public void Rewrite(NodeProto node, DynamicRewrite r, IReadOnlyList<string> outputs)
    {
        var g = r.Graph;
        var output = outputs[0];
        var aq = r.Activation(node.Input[0]);
        var transB = node.OpType == "Gemm" && GraphEditor.AttrInt(node, "transB", 0) == 1;
        var wq = r.Weight(node.Input[1] + (transB ? "^T" : ""), () => QuantizeWeight(g, r.Config, node.Input[1], transB));

        var prefix = DynamicRewrite.Prefix(node, outputs);
        var int32 = g.UniqueName(prefix + "_MatMulInteger_out");
        g.AddNode("MatMulInteger", [aq.Q, wq.Q, aq.Zp, wq.Zp], [int32], prefix + "_MatMulInteger");

        var hasBias = node.OpType == "Gemm" && node.Input.Count > 2 && node.Input[2].Length > 0;
        var alpha = node.OpType == "Gemm" ? GraphEditor.AttrFloat(node, "alpha", 1) : 1f;
        var scaled = r.Rescale(int32, aq.Scale, wq.Scale, prefix, hasBias || alpha != 1 ? g.UniqueName(prefix + "_scaled") : output);
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
    }

    /// <summary>B as int8 [K, N] (a transposed Gemm B is transposed here), scales per column N or one per tensor.</summary>
    internal static (string Q, string Scale, string Zp) QuantizeWeight(GraphEditor g, DynamicQuantConfig config, string name, bool transposed)
    {
        var t = g.Initializers[name];
        var w = TensorData.ToFloats(t);
        long rows = t.Dims[0], cols = t.Dims[1];
        if (transposed)
        {
            var tr = new float[w.Length];
            for (long row = 0; row < rows; row++)
                for (long c = 0; c < cols; c++) tr[c * rows + row] = w[row * cols + c];
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
