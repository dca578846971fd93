using System.IO.Compression;
using System.Reflection;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.TorchScript;

namespace ModelBuild.Fuzz;

/// <summary>One reader under test: its seeds, how to mutate an input, and how to feed one to the reader.</summary>
public sealed record FuzzTarget(string Name, Func<IReadOnlyList<byte[]>> Seeds, Func<byte[], Random, IReadOnlyList<byte[]>, byte[]> Mutate, Action<byte[], string> Run);

public static class FuzzTargets
{
    public static string RepoRoot { get; } = typeof(FuzzTargets).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .First(a => a.Key == "RepoRoot").Value!;

    private static readonly SourceLocation Where = new("deploy.yaml", 1, 1);

    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("manifest", ManifestSeeds, Mutators.Text, (input, work) =>
        {
            // Any text: ManifestLoader.Load decodes the file as UTF-8 the same way.
            var text = new System.Text.UTF8Encoding(false, false).GetString(input);
            ManifestLoader.Parse(text, Path.Combine(work, "deploy.yaml"), new DiagnosticBag(), ToolInfo.Version);
        }),
        new("onnx", () => Files("*.onnx", maxBytes: 512 * 1024), Mutators.Bytes, (input, work) =>
        {
            var path = Path.Combine(work, "model.onnx");
            var model = OnnxModelFile.Parse(input, path, Where);
            OnnxModelValidator.Validate(model, path, Where);
            ModelInterfaceReader.Read(model, Where);
        }),
        new("torchscript", () => Files("*.pt", maxBytes: 64 * 1024), Mutators.ZipEntries, (input, work) =>
        {
            var path = Path.Combine(work, "model.pt");
            File.WriteAllBytes(path, input);
            TorchScriptReader.Read(path, Where);
        }),
        new("npy", NpySeeds, Mutators.NpyHeader, (input, _) => NpyReader.Read(new MemoryStream(input, writable: false), "fuzz.npy")),
        new("npz", () => Files("*.npz", maxBytes: 200 * 1024), Mutators.ZipEntries, (input, work) =>
        {
            var path = Path.Combine(work, "data.npz");
            File.WriteAllBytes(path, input);
            NpzReader.ReadAll(path);
        }),
    ];

    /// <summary>Fixtures in the repository (test assets, the sample app, the hostile corpus), smallest first.</summary>
    private static List<byte[]> Files(string pattern, long maxBytes) =>
        new[] { "tests", "testassets" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(RepoRoot, d), pattern, SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => new FileInfo(f)).Where(f => f.Length <= maxBytes).OrderBy(f => f.Length).ThenBy(f => f.FullName, StringComparer.Ordinal)
            .Select(f => File.ReadAllBytes(f.FullName)).ToList();

    private static List<byte[]> ManifestSeeds()
    {
        var seeds = Files("deploy.yaml", maxBytes: 64 * 1024);
        // The manifest reference's examples cover keys no fixture uses.
        var docs = File.ReadAllText(Path.Combine(RepoRoot, "docs", "manifest.md"));
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(docs, "```yaml\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline))
            seeds.Add(System.Text.Encoding.UTF8.GetBytes(m.Groups[1].Value));
        return seeds;
    }

    /// <summary>The arrays inside the repository's .npz files, as standalone .npy bytes.</summary>
    private static List<byte[]> NpySeeds()
    {
        var seeds = Files("*.npy", maxBytes: 64 * 1024);
        foreach (var npz in Files("*.npz", maxBytes: 64 * 1024))
        {
            try
            {
                using var zip = new ZipArchive(new MemoryStream(npz), ZipArchiveMode.Read);
                foreach (var entry in zip.Entries.Where(e => e.Name.EndsWith(".npy", StringComparison.Ordinal) && e.Length <= 64 * 1024))
                {
                    using var s = entry.Open();
                    using var copy = new MemoryStream();
                    s.CopyTo(copy);
                    seeds.Add(copy.ToArray());
                }
            }
            catch (InvalidDataException) { } // the hostile corpus's broken archives
        }
        return seeds;
    }
}
