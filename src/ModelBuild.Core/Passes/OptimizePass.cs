using Microsoft.ML.OnnxRuntime;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes.Transformers;

namespace ModelBuild.Passes;

/// <summary>
/// Graph optimization by ONNX Runtime's own offline optimizer: constant folding, redundant-node elimination and
/// (extended) fusions. "extended" may emit com.microsoft fused ops, so the result runs on ONNX Runtime only.
/// Hardware-specific layout rewrites (ORT_ENABLE_ALL) are left out on purpose: they bind the file to this CPU.
/// "extended" also fuses transformer blocks into the contrib ops ONNX Runtime's optimizer leaves unfused
/// (<see cref="TransformerFusion"/>: Attention, SkipLayerNormalization).
/// </summary>
public sealed class OptimizePass(OptimizationLevel level, SourceLocation location) : IModelPass
{
    public string Name => $"optimize:{level.ToString().ToLowerInvariant()}";
    public bool IsLossless => true;

    public void Run(PassContext context)
    {
        if (level == OptimizationLevel.None)
        {
            File.Copy(context.InputPath, context.OutputPath, overwrite: true);
            // Dated now, not with the input's time (File.Copy keeps it on Unix): outputs must look new to MSBuild.
            File.SetLastWriteTimeUtc(context.OutputPath, DateTime.UtcNow);
            return;
        }
        OrtOptimize(context.InputPath, context.OutputPath, level, location, context.VariantName);
        if (level != OptimizationLevel.Extended) return;
        var model = OnnxModelFile.Load(context.OutputPath, location);
        new GraphEditor(model).PromoteConstants();
        var fused = TransformerFusion.Fuse(model);
        if (!fused.Any) return;
        File.WriteAllBytes(context.OutputPath, OnnxModelFile.Serialize(model));
        context.Outcome.Notes.Add($"optimize: fused {fused}");
    }

    /// <summary>ONNX Runtime's optimizer alone: <paramref name="input"/> optimized at <paramref name="level"/> into <paramref name="output"/>.</summary>
    public static void OrtOptimize(string input, string output, OptimizationLevel level, SourceLocation location, string variant = "")
    {
        using var options = OrtSessionFactory.CreateOptions(level: level switch
        {
            OptimizationLevel.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
            _ => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        });
        options.OptimizedModelFilePath = output;
        // Opening the session runs the optimizer and writes the optimized graph to OptimizedModelFilePath.
        using var session = OrtSessionFactory.Open(input, options, location);
        if (!File.Exists(output))
            throw new ModelBuildException(DiagnosticCodes.PassFailed, $"ONNX Runtime wrote no optimized model for '{variant}'", location);
    }
}
