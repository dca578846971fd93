using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// LSTM with constant W and R → ONNX Runtime's contrib kernel com.microsoft DynamicQuantizeLSTM: the same inputs and
/// attributes, then W_scale, W_zero_point, R_scale, R_zero_point. The kernel wants the weights transposed to
/// [num_directions, input_size, 4·hidden] and [num_directions, hidden, 4·hidden] (ONNX's are [.., 4·hidden, ..]);
/// scales are [num_directions] per tensor (one per direction) or [num_directions, 4·hidden] per gate column; with int8
/// weights every zero point must be 0. The input is quantized inside the kernel at each step, so nothing else changes.
/// </summary>
public sealed class LstmQuantizer : IDynamicOpQuantizer
{
    public const string Domain = "com.microsoft";

    public IReadOnlyCollection<string> OpTypes { get; } = ["LSTM"];

    public bool Accepts(NodeProto node, GraphEditor g, out string? note)
    {
        note = null;
        // Sequence-first only: the contrib kernel has no layout attribute (ONNX Runtime runs no batch-first LSTM at all).
        return node.Input.Count >= 3 && !g.IsInitializer(node.Input[0]) && IsFloat3D(g, node.Input[1]) && IsFloat3D(g, node.Input[2])
            && GraphEditor.AttrInt(node, "layout", 0) == 0;
    }

    private static bool IsFloat3D(GraphEditor g, string name) =>
        g.Initializers.TryGetValue(name, out var t) && t.DataType == TensorData.Float && t.Dims.Count == 3;

    public void Rewrite(NodeProto node, DynamicRewrite r, IReadOnlyList<string> outputs)
    {
        var g = r.Graph;
        var w = r.Weight(node.Input[1] + "^lstm", () => QuantizeWeight(g, r.Config, node.Input[1]));
        var rq = r.Weight(node.Input[2] + "^lstm", () => QuantizeWeight(g, r.Config, node.Input[2]));
        // X, W, R, then B, sequence_lens, initial_h, initial_c, P as given (empty names for the missing ones).
        var inputs = new List<string> { node.Input[0], w.Q, rq.Q };
        inputs.AddRange(Enumerable.Range(3, 5).Select(i => i < node.Input.Count ? node.Input[i] : ""));
        inputs.AddRange([w.Scale, w.Zp, rq.Scale, rq.Zp]);
        var lstm = g.AddNode("DynamicQuantizeLSTM", inputs, outputs, DynamicRewrite.Prefix(node, outputs) + "_quant", Domain);
        lstm.Attribute.AddRange(node.Attribute.Where(a => a.Name != "layout").Select(a => a.Clone()));
        if (!g.Model.OpsetImport.Any(o => o.Domain == Domain))
            g.Model.OpsetImport.Add(new OperatorSetIdProto { Domain = Domain, Version = 1 });
    }

    /// <summary>[D, 4H, K] float → [D, K, 4H] int8, scaled per direction (scales [D]) or per gate column (scales [D, 4H]).</summary>
    private static (string Q, string Scale, string Zp) QuantizeWeight(GraphEditor g, DynamicQuantConfig config, string name)
    {
        var t = g.Initializers[name];
        var w = TensorData.ToFloats(t);
        long directions = t.Dims[0], gates = t.Dims[1], k = t.Dims[2];
        var q = new sbyte[w.Length];
        var scales = new List<float>();
        for (long d = 0; d < directions; d++)
        {
            var transposed = new float[k * gates];
            for (long row = 0; row < gates; row++)
                for (long c = 0; c < k; c++) transposed[c * gates + row] = w[(d * gates + row) * k + c];
            var (values, s) = QuantMath.QuantizeWeights(transposed, [k, gates], config.PerChannel ? 1 : -1, config.ReduceRange);
            values.CopyTo(q, d * k * gates);
            scales.AddRange(s);
        }
        long[] paramDims = config.PerChannel ? [directions, gates] : [directions];
        return (g.AddInitializer(TensorData.FromInt8s(name + "_quantized", [directions, k, gates], q)).Name,
                g.AddInitializer(TensorData.FromFloats(name + "_scale", paramDims, scales.ToArray())).Name,
                g.AddInitializer(TensorData.FromInt8s(name + "_zero_point", paramDims, new sbyte[scales.Count])).Name);
    }
}
