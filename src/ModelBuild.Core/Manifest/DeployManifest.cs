using ModelBuild.Diagnostics;
using NuGet.Versioning;

namespace ModelBuild.Manifest;

/// <summary>A parsed, validated deploy.yaml (schema 1). Every user-set value keeps the location it came from.</summary>
public sealed class DeployManifest
{
    /// <summary>Full path of the manifest file.</summary>
    public required string Path { get; init; }

    /// <summary>Folder that relative paths in the manifest are resolved against.</summary>
    public string Directory => System.IO.Path.GetDirectoryName(Path)!;

    public required int Schema { get; init; }
    public VersionRange? Requires { get; init; }
    public required IReadOnlyList<ModelSpec> Models { get; init; }

    /// <summary>Every file the manifest names (models, data), full paths: the inputs of an incremental build.</summary>
    public IEnumerable<string> ReferencedFiles =>
        Models.SelectMany(m => m.ReferencedFiles).Select(f => f.Path).Distinct(StringComparer.Ordinal);
}

/// <summary>A value from the manifest with the place it was written, so a diagnostic can point at it.</summary>
public readonly record struct Located<T>(T Value, SourceLocation Location)
{
    public override string ToString() => Value?.ToString() ?? "";
}
