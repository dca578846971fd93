using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

namespace ModelBuild.Targets;

/// <summary>
/// Converts an ONNX model to ONNX Runtime's ORT format (for ONNX Runtime Mobile) with ONNX Runtime itself:
/// a session configured to save in ORT format writes the file while it loads the model.
/// The one artifact that is not byte-reproducible: ONNX Runtime 1.31 serializes its kernel-type table from a hash
/// map, so table order (not content) varies between runs. Measured: 1 run in 3 differed.
/// </summary>
public static class OrtFormatWriter
{
    public static void Write(string onnxPath, string ortPath, SourceLocation location)
    {
        // Basic optimizations only: they are portable, while extended/all may add ops that mobile builds lack.
        using var options = OrtSessionFactory.CreateOptions(level: Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_BASIC);
        options.AddSessionConfigEntry("session.save_model_format", "ORT");
        options.OptimizedModelFilePath = ortPath;
        using var session = OrtSessionFactory.Open(onnxPath, options, location);
        if (!File.Exists(ortPath))
            throw new ModelBuildException(DiagnosticCodes.PassFailed, $"ONNX Runtime wrote no ORT-format model for '{onnxPath}'", location);
    }
}
