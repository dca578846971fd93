using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Transformers;

/// <summary>
/// Transformer blocks → ONNX Runtime's fused contrib ops, on top of what ONNX Runtime's own extended optimizer does.
/// Measured on ONNX Runtime 1.31 (CPU, ORT_ENABLE_EXTENDED) with all-MiniLM-L6-v2: it fuses LayerNormalization,
/// BiasGelu and the scaled Q·Kᵀ (FusedMatMul), but no Attention, SkipLayerNormalization or EmbedLayerNormalization.
/// This adds Attention (<see cref="AttentionFusion"/>), which dynamic int8 turns into QAttention. Residual + layer
/// norm is left as Add + LayerNormalization on purpose: ONNX Runtime 1.31's CPU SkipLayerNormalization kernel took
/// 6.0–6.4 ms for MiniLM's 12 (128 tokens, one thread) against 1.8 ms for the Add and LayerNormalization it replaces.
/// The float <c>optimize</c> variant does not fuse either: the float Attention kernel took 11.2–11.8 ms for MiniLM's 6
/// blocks, no less than the unfused ops, and the fused float model ran 1.06–1.13× fp32 in three of four runs (docs/bench.md).
/// </summary>
public static class TransformerFusion
{
    /// <summary>What was fused in one model.</summary>
    public sealed record Result(int Attention)
    {
        public bool Any => Attention > 0;

        public override string ToString() => $"{Attention} Attention";
    }

    /// <summary>Fuses in place (a graph ONNX Runtime's extended optimizer already ran on), dropping what no longer computes anything.</summary>
    public static Result Fuse(ModelProto model)
    {
        var g = new GraphEditor(model);
        var result = new Result(AttentionFusion.Apply(g));
        if (!result.Any) return result;
        RemoveDeadNodes(g);
        if (!model.OpsetImport.Any(o => o.Domain == AttentionFusion.Domain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = AttentionFusion.Domain, Version = 1 });
        g.TopologicalSort();
        return result;
    }

    /// <summary>
    /// The float model as the quantizers should see it when it is a transformer: ONNX Runtime's extended optimizer,
    /// then <see cref="Fuse"/>. Null when no attention block fuses (the model is left to the plain path).
    /// </summary>
    public static (ModelProto Model, Result Fused)? Fused(ModelProto model, string workDirectory, SourceLocation location)
    {
        var staged = Path.Combine(workDirectory, $"fuse-{Guid.NewGuid():N}.onnx");
        var optimized = Path.ChangeExtension(staged, ".opt.onnx");
        try
        {
            File.WriteAllBytes(staged, OnnxModelFile.Serialize(model));
            new OptimizePass(OptimizationLevel.Extended, location).Run(new PassContext(staged, optimized, "", "", CancellationToken.None));
            var result = OnnxModelFile.Load(optimized, location);
            new GraphEditor(result).PromoteConstants();
            var fused = Fuse(result);
            return fused.Attention > 0 ? (result, fused) : null;
        }
        finally
        {
            File.Delete(staged);
            File.Delete(optimized);
        }
    }

    private static void RemoveDeadNodes(GraphEditor g)
    {
        for (var changed = true; changed;)
        {
            changed = false;
            g.Refresh();
            foreach (var node in g.Graph.Node.ToList())
            {
                if (node.Output.Any(o => o.Length > 0 && (g.ConsumersOf(o).Count > 0 || g.GraphOutputs.Contains(o)))) continue;
                g.Graph.Node.Remove(node);
                changed = true;
            }
        }
        g.RemoveUnusedInitializers();
        g.Refresh();
    }
}
