using ModelBuild.Onnx;

namespace ModelBuild.Passes;

/// <summary>
/// Folds an inference BatchNormalization into the Conv before it: W' = W·γ/√(σ²+ε) per output channel,
/// b' = (b−μ)·γ/√(σ²+ε) + β. Lossless up to float rounding; quantizing the folded weights is what makes the
/// per-channel scales meaningful (the quantizers' preprocessing runs it).
/// </summary>
public static class BatchNormFolding
{
    /// <summary>Folds every eligible Conv→BatchNormalization pair; returns how many were folded.</summary>
    public static int Fold(GraphEditor g)
    {
        var folded = 0;
        foreach (var bn in g.Graph.Node.Where(n => n.OpType == "BatchNormalization" && n.Domain is "" or "ai.onnx").ToList())
        {
            if (bn.Output.Skip(1).Any(o => o.Length > 0) || bn.Input.Count < 5) continue; // training outputs in use
            if (g.ProducerOf(bn.Input[0]) is not { OpType: "Conv" } conv || g.ConsumersOf(conv.Output[0]).Count != 1) continue;
            if (g.GraphOutputs.Contains(conv.Output[0])) continue;
            if (conv.Input.Count < 2 || !g.Initializers.TryGetValue(conv.Input[1], out var wt)) continue;
            if (g.ConsumersOf(conv.Input[1]).Count != 1) continue;
            var p = bn.Input.Skip(1).Take(4).Select(n => g.Initializers.GetValueOrDefault(n)).ToArray();
            if (p.Any(t => t is null)) continue;
            var (gamma, beta, mean, variance) = (TensorData.ToFloats(p[0]!), TensorData.ToFloats(p[1]!),
                TensorData.ToFloats(p[2]!), TensorData.ToFloats(p[3]!));
            var eps = GraphEditor.AttrFloat(bn, "epsilon", 1e-5f);
            var w = TensorData.ToFloats(wt);
            var outChannels = (int)wt.Dims[0];
            if (gamma.Length != outChannels) continue;
            var perChannel = w.Length / outChannels;
            float[] bias = conv.Input.Count > 2 && conv.Input[2].Length > 0
                ? (g.Initializers.TryGetValue(conv.Input[2], out var bt) && g.ConsumersOf(conv.Input[2]).Count == 1 ? TensorData.ToFloats(bt) : null!)
                : new float[outChannels];
            if (bias is null) continue;

            for (var c = 0; c < outChannels; c++)
            {
                var factor = gamma[c] / MathF.Sqrt(variance[c] + eps);
                for (var k = 0; k < perChannel; k++) w[c * perChannel + k] *= factor;
                bias[c] = (bias[c] - mean[c]) * factor + beta[c];
            }
            var newW = g.AddInitializer(TensorData.FromFloats(conv.Input[1] + "_bnfolded", wt.Dims, w));
            var newB = g.AddInitializer(
                TensorData.FromFloats(conv.Name.Length > 0 ? conv.Name + "_bias_bnfolded" : "bias_bnfolded", [outChannels], bias));
            var oldW = conv.Input[1];
            var oldB = conv.Input.Count > 2 ? conv.Input[2] : "";
            conv.Input[1] = newW.Name;
            if (conv.Input.Count > 2) conv.Input[2] = newB.Name; else conv.Input.Add(newB.Name);
            conv.Output[0] = bn.Output[0];
            g.Graph.Node.Remove(bn);
            g.Refresh();
            foreach (var n in bn.Input.Skip(1).Append(oldW).Append(oldB)) if (n.Length > 0) g.RemoveInitializerIfUnused(n);
            folded++;
        }
        if (folded > 0) g.Refresh();
        return folded;
    }
}
