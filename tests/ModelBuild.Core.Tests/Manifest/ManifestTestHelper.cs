using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using NuGet.Versioning;

namespace ModelBuild.Core.Tests.Manifest;

/// <summary>A temp folder holding a manifest and the files it names; deleted after the test.</summary>
public sealed class ManifestWorkspace : IDisposable
{
    public static readonly NuGetVersion ToolVersion = NuGetVersion.Parse("1.2.0");

    public ManifestWorkspace(params string[] files)
    {
        Root = Path.Combine(Path.GetTempPath(), "mb-manifest-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        foreach (var f in files) Touch(f);
    }

    public string Root { get; }
    public string ManifestPath => Path.Combine(Root, "deploy.yaml");
    public DiagnosticBag Diagnostics { get; } = new();

    public string Full(string relative) => Path.GetFullPath(Path.Combine(Root, relative));

    public void Touch(string relative)
    {
        var full = Full(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, [0]);
    }

    public DeployManifest? Parse(string yaml, NuGetVersion? toolVersion = null) =>
        ManifestLoader.Parse(yaml, ManifestPath, Diagnostics, toolVersion ?? ToolVersion);

    /// <summary>Parses a manifest expected to hold exactly one error, and checks its code and position.</summary>
    /// <summary>Every diagnostic reported so far, as (code, line, column).</summary>
    public List<(string Code, int Line, int Column)> Found() =>
        Diagnostics.Select(d => (d.Code, d.Location!.Line, d.Location.Column)).ToList();

    public Diagnostic ExpectSingle(string yaml, string code, int line, int column)
    {
        var result = Parse(yaml);
        Assert.Null(result);
        var d = Assert.Single(Diagnostics);
        Assert.Equal(code, d.Code);
        Assert.Equal(Severity.Error, d.Severity);
        Assert.Equal(ManifestPath, d.Location!.File);
        Assert.Equal((line, column), (d.Location.Line, d.Location.Column));
        return d;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
