using ModelBuild.Diagnostics;
using ModelBuild.Manifest;

namespace ModelBuild.IO;

/// <summary>
/// The files a build reads (manifests, sources, evaluation, calibration and fine-tuning data), each with the manifest
/// key that names it. An output folder can hold them (<c>--out .</c>), and the build must never overwrite or delete one.
/// </summary>
public sealed class RunInputs
{
    // Linux file systems are case-sensitive; Windows and macOS ones usually are not, and there a different case is the same file.
    public static StringComparer PathComparer { get; } = OperatingSystem.IsLinux() ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;

    private readonly Dictionary<string, SourceLocation> _files = new(PathComparer);

    public RunInputs(IEnumerable<(string Path, SourceLocation Location)> files)
    {
        foreach (var (path, location) in files)
            _files.TryAdd(Path.GetFullPath(path), location);
    }

    public static RunInputs Of(IEnumerable<DeployManifest> manifests) =>
        new(manifests.SelectMany(m => FilesOf(m)));

    /// <summary>Full paths of every input.</summary>
    public IEnumerable<string> Paths => _files.Keys;

    /// <summary>Where the manifest names <paramref name="path"/>, if it is an input of this run.</summary>
    public SourceLocation? Find(string path) => _files.TryGetValue(Path.GetFullPath(path), out var location) ? location : null;

    private static IEnumerable<(string, SourceLocation)> FilesOf(DeployManifest manifest)
    {
        yield return (manifest.Path, new SourceLocation(manifest.Path));
        foreach (var model in manifest.Models)
        {
            if (model.Source.Path is { } source) yield return (source, model.Source.Location);
            if (model.Source.TorchSharp is { } torchSharp)
            {
                yield return (torchSharp.Assembly, model.Source.Location);
                if (torchSharp.Weights is { } weights) yield return (weights, model.Source.Location);
            }
            if (model.Evaluate is { } evaluate)
                foreach (var file in evaluate.Files) yield return (file, evaluate.Location);
            foreach (var variant in model.Variants)
            {
                if (variant.Quantize?.Calibration is { } calibration) yield return (calibration.Data, calibration.Location);
                if (variant.Prune?.Finetune is { } finetune) yield return (finetune.Data, finetune.Location);
            }
        }
    }
}
