using System.Text.Json;

namespace ModelBuild.Runtime;

/// <summary>A model ModelBuild deployed into an output folder: its name, deployed variant and file.</summary>
public sealed record DeployedModelEntry(string Name, string? Variant, string Path);

/// <summary>
/// Finds the models ModelBuild deployed into an output folder (an app's <see cref="AppContext.BaseDirectory"/>, or
/// a <c>modelbuild build --out</c> folder). modelbuild-report.json names each model's deployed variant; without a
/// report, <c>models/&lt;name&gt;/model.onnx</c> is used.
/// </summary>
public static class DeployedModels
{
    /// <summary>The report the build writes next to the models.</summary>
    public const string ReportFile = "modelbuild-report.json";

    /// <summary>Loads model <paramref name="name"/> from <paramref name="directory"/> (default: the app's folder).</summary>
    /// <exception cref="FileNotFoundException">The folder holds no deployed model of that name.</exception>
    public static DeployedModel Load(string name, string? directory = null, DeployedModelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        directory ??= AppContext.BaseDirectory;
        var entry = List(directory).FirstOrDefault(e => e.Name == name);
        if (entry is null)
        {
            var known = List(directory).Select(e => e.Name).ToList();
            throw new FileNotFoundException(
                $"no deployed model '{name}' in '{Path.GetFullPath(directory)}'" +
                (known.Count > 0 ? $"; deployed models: {string.Join(", ", known)}" : "; is ModelBuild building it " +
                    "(deploy.yaml next to the project)?"));
        }
        return DeployedModel.Open(entry.Path, entry.Name, entry.Variant, options);
    }

    /// <summary>
    /// The image preprocessing the build recorded for model <paramref name="name"/> (deploy.yaml's <c>preprocess</c>),
    /// or null when its manifest declares none.
    /// </summary>
    public static ImagePreprocessing? Preprocessing(string name, string? directory = null)
    {
        var path = Path.Combine(Path.GetFullPath(directory ?? AppContext.BaseDirectory), "models", name, ImagePreprocessing.FileName);
        return File.Exists(path) ? ImagePreprocessing.Read(path) : null;
    }

    /// <summary>Every deployed model in <paramref name="directory"/>, in report order (or by name without a report).</summary>
    public static IReadOnlyList<DeployedModelEntry> List(string directory)
    {
        var root = Path.GetFullPath(directory);
        var report = Path.Combine(root, ReportFile);
        return File.Exists(report) ? FromReport(root, report) : FromFolders(root);
    }

    private static List<DeployedModelEntry> FromReport(string root, string reportPath)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(reportPath));
        var entries = new List<DeployedModelEntry>();
        if (!document.RootElement.TryGetProperty("models", out var models) || models.ValueKind != JsonValueKind.Array)
            return entries;
        foreach (var model in models.EnumerateArray())
        {
            if (!model.TryGetProperty("name", out var nameElement) || nameElement.GetString() is not { } name) continue;
            var variant = model.TryGetProperty("deployed", out var d) ? d.GetString() : null;
            string? relative = null;
            if (variant is not null && model.TryGetProperty("artifacts", out var artifacts))
                foreach (var artifact in artifacts.EnumerateArray())
                    if (artifact.TryGetProperty("name", out var n) && n.GetString() == variant && artifact.TryGetProperty("path", out var p))
                        relative = p.GetString();
            relative ??= $"models/{name}/model.onnx";
            var path = Path.GetFullPath(Path.Combine(root, relative));
            // A report names files inside its own folder only.
            if (!path.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal)) continue;
            if (File.Exists(path)) entries.Add(new DeployedModelEntry(name, variant, path));
        }
        return entries;
    }

    /// <summary>models/&lt;name&gt;/model.onnx, else a Triton repository's &lt;name&gt;/1/model.onnx (the server image's layout).</summary>
    private static List<DeployedModelEntry> FromFolders(string root)
    {
        var models = Path.Combine(root, "models");
        var (folder, file) = Directory.Exists(models) ? (models, "model.onnx") : (root, Path.Combine("1", "model.onnx"));
        return Directory.GetDirectories(folder)
            .Select(d => new DeployedModelEntry(Path.GetFileName(d), null, Path.Combine(d, file)))
            .Where(e => File.Exists(e.Path))
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .ToList();
    }
}
