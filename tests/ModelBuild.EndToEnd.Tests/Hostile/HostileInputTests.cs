using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ModelBuild.EndToEnd.Tests.Hostile;

/// <summary>
/// Every case folder under tests/hostile/ is built by the real tool: it must fail with the expected MB code and
/// exit 2, within a time limit, with a capped heap (a reader that believes a declared size runs out of memory
/// here instead of on a user's machine), and leave no file in the output folder. New folders are picked up
/// without code changes, so a corpus dropped in from elsewhere is tested the same way.
/// </summary>
public sealed class HostileInputTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.EnumerateDirectories(HostileCorpus.Folder).Order(StringComparer.Ordinal))
            if (File.Exists(Path.Combine(dir, "expect"))) data.Add(Path.GetFileName(dir));
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Hostile_input_fails_with_an_MB_error_and_exit_2_writing_nothing(string name)
    {
        var work = Directory.CreateTempSubdirectory($"modelbuild-hostile-{name}-").FullName;
        try
        {
            File.Copy(RepoPaths.Asset("digits-mlp.onnx"), Path.Combine(work, "valid.onnx"));
            File.Copy(RepoPaths.Asset("digits-test.npz"), Path.Combine(work, "valid.npz"));
            var source = Path.Combine(HostileCorpus.Folder, name);
            foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(work, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target, overwrite: true);
            }
            var expected = File.ReadAllText(Path.Combine(source, "expect")).Trim();

            var watch = Stopwatch.StartNew();
            var result = ProcessRunner.Run("dotnet", work, TimeSpan.FromSeconds(90),
                new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x40000000" }, // 1 GiB
                RepoPaths.ToolAssembly, "build", "deploy.yaml", "--out", "out", "-q");

            Assert.True(result.ExitCode == 2, $"case {name}: expected exit 2 ({expected}), got {result}");
            Assert.Matches(new Regex($@"error {expected}: "), result.Output);
            Assert.DoesNotMatch(new Regex(@"error MB9\d{3}|Unhandled exception|   at "), result.Output);
            var written = Directory.Exists(Path.Combine(work, "out"))
                ? Directory.EnumerateFiles(Path.Combine(work, "out"), "*", SearchOption.AllDirectories).ToList()
                : [];
            Assert.True(written.Count == 0, $"case {name} wrote: {string.Join(", ", written)}");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"case {name} took {watch.Elapsed}");
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (IOException) { }
        }
    }

    /// <summary>The committed corpus is what <see cref="HostileCorpus"/> writes; MODELBUILD_WRITE_HOSTILE_CORPUS=1 rewrites it.</summary>
    [Fact]
    public void Committed_corpus_matches_its_generator()
    {
        var rewrite = Environment.GetEnvironmentVariable("MODELBUILD_WRITE_HOSTILE_CORPUS") == "1";
        var mismatches = new List<string>();
        foreach (var (name, files) in HostileCorpus.Generate())
            foreach (var (relative, bytes) in files)
            {
                var path = Path.Combine(HostileCorpus.Folder, name, relative);
                if (rewrite)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.WriteAllBytes(path, bytes);
                }
                else if (!File.Exists(path) || !File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes))
                    mismatches.Add($"{name}/{relative}");
            }
        Assert.True(mismatches.Count == 0, "regenerate tests/hostile with MODELBUILD_WRITE_HOSTILE_CORPUS=1: " + string.Join(", ", mismatches));
    }
}
