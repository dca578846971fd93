using Microsoft.ML.OnnxRuntime;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Passes;

/// <summary>
/// Graph optimization by ONNX Runtime's own offline optimizer: constant folding, redundant-node elimination and
/// (extended) fusions. "extended" may emit com.microsoft fused ops, so the result runs on ONNX Runtime only.
/// Hardware-specific layout rewrites (ORT_ENABLE_ALL) are left out on purpose: they bind the file to this CPU.
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
        using var options = OrtSessionFactory.CreateOptions(level: level switch
        {
            OptimizationLevel.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
            _ => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        });
        options.OptimizedModelFilePath = context.OutputPath;
        // Opening the session runs the optimizer and writes the optimized graph to OptimizedModelFilePath.
        using var session = OrtSessionFactory.Open(context.InputPath, options, location);
        if (!File.Exists(context.OutputPath))
            throw new ModelBuildException(DiagnosticCodes.PassFailed, $"ONNX Runtime wrote no optimized model for '{context.VariantName}'", location);
    }
}
