namespace ModelBuild.EndToEnd.Tests;

/// <summary>A brand-new project outside the repository whose only ModelBuild setup is the PackageReference.</summary>
public sealed class ConsumerProject : IDisposable
{
    /// <param name="packages">More PackageReferences as id → version (ModelBuild.Torch, the app's own ONNX Runtime).</param>
    /// <param name="properties">More csproj properties (TreatWarningsAsErrors).</param>
    /// <param name="projectXml">More csproj content (the project's own targets).</param>
    public ConsumerProject(PackageFeedFixture feed, string deployYaml, string name = "Consumer",
        IReadOnlyDictionary<string, string>? packages = null, IReadOnlyDictionary<string, string>? properties = null,
        string projectXml = "")
    {
        var references = string.Concat((packages ?? new Dictionary<string, string>()).Select(p =>
            $"\n    <PackageReference Include=\"{p.Key}\" Version=\"{p.Value}\" />"));
        var extra = string.Concat((properties ?? new Dictionary<string, string>()).Select(p => $"\n    <{p.Key}>{p.Value}</{p.Key}>"));
        Directory = System.IO.Directory.CreateTempSubdirectory("modelbuild-consumer-").FullName;
        Name = name;
        File.WriteAllText(Path.Combine(Directory, $"{name}.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>{extra}
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="ModelBuild" Version="{feed.Version}" />{references}
              </ItemGroup>{projectXml}
            </Project>
            """);
        File.WriteAllText(Path.Combine(Directory, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="modelbuild-local" value="{feed.Feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(Directory, "Program.cs"), "Console.WriteLine(\"consumer\");\n");
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "models"));
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "data"));
        File.Copy(RepoPaths.Asset("digits-mlp.onnx"), Path.Combine(Directory, "models", "digits-mlp.onnx"));
        File.Copy(RepoPaths.Asset("digits-test.npz"), Path.Combine(Directory, "data", "digits-test.npz"));
        WriteManifest(deployYaml);
    }

    public string Directory { get; }
    public string Name { get; }
    public string ManifestPath => Path.Combine(Directory, "deploy.yaml");
    public string OutputDirectory => Path.Combine(Directory, "bin", "Debug", "net10.0");
    public string IntermediateArtifacts => Path.Combine(Directory, "obj", "Debug", "net10.0", "modelbuild", "out");
    public string Stamp => Path.Combine(Directory, "obj", "Debug", "net10.0", "modelbuild", "modelbuild.stamp");

    public void WriteManifest(string yaml) => File.WriteAllText(ManifestPath, yaml);

    public ProcessResult Dotnet(params string[] args) => ProcessRunner.Dotnet(Directory, [.. args, "-nodeReuse:false"]);

    /// <summary>Runs dotnet with more environment (an empty NUGET_PACKAGES folder: what a fresh CI agent restores).</summary>
    public ProcessResult Dotnet(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        ProcessRunner.Run("dotnet", Directory, TimeSpan.FromMinutes(10), environment, [.. args, "-nodeReuse:false"]);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}
