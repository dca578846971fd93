using ModelBuild.Diagnostics;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// The seam between the pipeline and the safe archive reader. TorchScriptReader (branch tsreader) is not merged
/// yet; once it is, this becomes <c>TorchScriptReader.Read(path, location)</c> and nothing else changes.
/// </summary>
public static class ArchiveSource
{
    public static TorchScriptArchive Read(string path, SourceLocation location) =>
        throw new ModelBuildException(DiagnosticCodes.UnsupportedModelSource,
            $"this build of ModelBuild cannot read TorchScript archives yet ('{path}'); export the model to ONNX and name the .onnx file",
            location);
}
