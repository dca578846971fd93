using ModelBuild.Diagnostics;
using ModelBuild.Pipeline;
using ModelBuild.Reports;
using ModelBuild.Results;

namespace ModelBuild.Core.Tests.Pipeline;

/// <summary>A temp folder holding the sample's real Fashion-MNIST model and data, a manifest, and an output folder.</summary>
internal sealed class PipelineWorkspace : IDisposable
{
    public PipelineWorkspace(string manifest)
    {
        Root = Directory.CreateTempSubdirectory("modelbuild-pipeline-").FullName;
        var sample = Path.Combine(RepoRoot, "testassets", "SampleApp");
        Directory.CreateDirectory(Path.Combine(Root, "models"));
        Directory.CreateDirectory(Path.Combine(Root, "data"));
        File.Copy(Path.Combine(sample, "models", "fashion.onnx"), Path.Combine(Root, "models", "fashion.onnx"));
        File.Copy(Path.Combine(sample, "data", "test.npz"), Path.Combine(Root, "data", "test.npz"));
        WriteManifest(manifest);
    }

    public static string RepoRoot { get; } = FindRepoRoot();

    public string Root { get; }
    public string ManifestPath => Path.Combine(Root, "deploy.yaml");
    public string OutputDirectory => Path.Combine(Root, "out");
    public DiagnosticBag Diagnostics { get; private set; } = new();

    public void WriteManifest(string yaml) => File.WriteAllText(ManifestPath, yaml);

    public string Output(string relative) => Path.Combine(OutputDirectory, relative);

    /// <summary>Builds into <see cref="OutputDirectory"/>, or into <paramref name="outputDirectory"/> when given.</summary>
    public BuildReport? Build(string? outputDirectory = null)
    {
        Diagnostics = new DiagnosticBag();
        return BuildPipeline.Run(new[] { ManifestPath }, new BuildOptions { OutputDirectory = outputDirectory ?? OutputDirectory }, Diagnostics);
    }

    /// <summary>1-based line and column of the first occurrence of <paramref name="text"/> in the manifest.</summary>
    public (int Line, int Column) Find(string text)
    {
        var lines = File.ReadAllLines(ManifestPath);
        for (var i = 0; i < lines.Length; i++)
        {
            var column = lines[i].IndexOf(text, StringComparison.Ordinal);
            if (column >= 0) return (i + 1, column + 1);
        }
        throw new ArgumentException($"'{text}' is not in the manifest");
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ModelBuild.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
    }
}
