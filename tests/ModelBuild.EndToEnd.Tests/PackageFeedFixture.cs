namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// Packs the ModelBuild package, its libtorch add-on ModelBuild.Torch and ModelBuild.Runtime once per test run into a temporary feed. Each run uses a unique prerelease
/// version so the shared NuGet packages folder never serves a stale copy; that folder is removed afterwards.
/// </summary>
public sealed class PackageFeedFixture : IDisposable
{
    public PackageFeedFixture()
    {
        Root = Directory.CreateTempSubdirectory("modelbuild-e2e-").FullName;
        Feed = Path.Combine(Root, "feed");
        Version = $"0.1.0-e2e.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        foreach (var project in new[] { "src/ModelBuild.Tasks/ModelBuild.Tasks.csproj", "src/ModelBuild.TorchPackage/ModelBuild.TorchPackage.csproj", "src/ModelBuild.Runtime/ModelBuild.Runtime.csproj" })
        {
            var pack = ProcessRunner.Dotnet(RepoPaths.Root, "pack", project,
                "-c", "Release", "-o", Feed, "--artifacts-path", Path.Combine(Root, "artifacts"),
                $"-p:Version={Version}", "-nodeReuse:false");
            if (pack.ExitCode != 0)
                throw new InvalidOperationException($"packing {project} failed:\n{pack}");
        }
        PackagePath = Path.Combine(Feed, $"ModelBuild.{Version}.nupkg");
        if (!File.Exists(PackagePath))
            throw new InvalidOperationException($"pack succeeded but {PackagePath} is missing");
    }

    public string Root { get; }
    public string Feed { get; }
    public string Version { get; }
    public string PackagePath { get; }

    public void Dispose()
    {
        var home = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        TryDelete(Path.Combine(home, "modelbuild", Version.ToLowerInvariant()));
        TryDelete(Path.Combine(home, "modelbuild.torch", Version.ToLowerInvariant()));
        TryDelete(Path.Combine(home, "modelbuild.runtime", Version.ToLowerInvariant()));
        TryDelete(Root);
    }

    private static void TryDelete(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class PackageFeedCollection : ICollectionFixture<PackageFeedFixture>
{
    public const string Name = "packed ModelBuild";
}
