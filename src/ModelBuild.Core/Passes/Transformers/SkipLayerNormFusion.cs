using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Transformers;

/// <summary>
/// Residual + layer norm → one com.microsoft SkipLayerNormalization: LayerNormalization(axis −1) of Add(projection,
/// residual), where the projection is a MatMul by a constant 2-D weight (its 1-D bias Add, if any, goes into the fused
/// node) and the residual the output of an earlier layer norm or attention, the post-norm layout of BERT-style encoders
/// (both [batch, sequence, hidden], so the fused node's no-broadcast contract holds). When something else reads the
/// sum too, the fused node writes it as its fourth output.
/// </summary>
public static class SkipLayerNormFusion
{
    private static readonly HashSet<string> Residuals = new(StringComparer.Ordinal)
    {
        "LayerNormalization", "SkipLayerNormalization", "Attention", "MultiHeadAttention",
    };

    public static int Apply(GraphEditor g)
    {
        var fused = 0;
        foreach (var norm in g.Graph.Node.Where(n => n.OpType == "LayerNormalization" && n.Domain is "" or "ai.onnx").ToList())
            if (TryFuse(g, norm)) fused++;
        return fused;
    }

    private static bool TryFuse(GraphEditor g, NodeProto norm)
    {
        if (GraphEditor.AttrInt(norm, "axis", -1) != -1 || norm.Output.Skip(1).Any(o => o.Length > 0) || norm.Input.Count < 2) return false;
        if (!g.IsInitializer(norm.Input[1]) || norm.Input.Count > 2 && norm.Input[2].Length > 0 && !g.IsInitializer(norm.Input[2])) return false;
        if (g.ProducerOf(norm.Input[0]) is not { } add || add.OpType != "Add" || add.Domain is not ("" or "ai.onnx")) return false;
        foreach (var (a, b) in new[] { (add.Input[0], add.Input[1]), (add.Input[1], add.Input[0]) })
        {
            if (Projection(g, a) is not { } projection || g.ProducerOf(b) is not { } residual || !Residuals.Contains(residual.OpType)) continue;
            var (input, bias) = projection;
            var inputs = new List<string> { input, b, norm.Input[1], norm.Input.Count > 2 ? norm.Input[2] : "" };
            if (bias is not null) inputs.Add(bias);
            var sumRead = g.ConsumersOf(add.Output[0]).Count > 1 || g.GraphOutputs.Contains(add.Output[0]);
            var outputs = sumRead ? new[] { norm.Output[0], "", "", add.Output[0] } : [norm.Output[0]];
            var fused = g.AddNode("SkipLayerNormalization", inputs, outputs, (norm.Name.Length > 0 ? norm.Name : norm.Output[0]) + "_SkipLayerNorm",
                AttentionFusion.Domain);
            GraphEditor.SetAttr(fused, "epsilon", GraphEditor.AttrFloat(norm, "epsilon", 1e-5f));
            g.Graph.Node.Remove(norm);
            g.Graph.Node.Remove(add);
            if (bias is not null && g.ProducerOf(a) is { } biasAdd && biasAdd.OpType == "Add" && g.ConsumersOf(a).Count == 1) g.Graph.Node.Remove(biasAdd);
            g.Refresh();
            return true;
        }
        return false;
    }

    /// <summary>A MatMul by a constant 2-D float weight, or its sum with a 1-D constant bias read by nothing else: (MatMul output, bias).</summary>
    private static (string Input, string? Bias)? Projection(GraphEditor g, string tensor)
    {
        if (g.ProducerOf(tensor) is not { } node) return null;
        string? bias = null;
        var output = tensor;
        if (node.OpType == "Add" && node.Domain is "" or "ai.onnx" && g.ConsumersOf(tensor).Count == 1 && !g.GraphOutputs.Contains(tensor))
        {
            var constant = node.Input.FirstOrDefault(g.IsInitializer);
            var other = node.Input.FirstOrDefault(i => !g.IsInitializer(i));
            if (constant is null || other is null || g.Initializers[constant] is not { DataType: TensorData.Float, Dims.Count: 1 }) return null;
            bias = constant;
            output = other;
            if (g.ProducerOf(other) is not { } inner) return null;
            node = inner;
        }
        if (node.OpType != "MatMul" || node.Domain is not ("" or "ai.onnx") || !g.Initializers.TryGetValue(node.Input[1], out var w)
            || w.Dims.Count != 2 || w.DataType != TensorData.Float) return null;
        if (bias is not null && g.Initializers[bias].Dims[0] != w.Dims[1]) return null;
        return (output, bias);
    }
}
