using ModelBuild.Diagnostics;
using ModelBuild.Fuzz;

namespace ModelBuild.Core.Tests.Fuzz;

/// <summary>
/// The CI share of fuzzing (docs/robustness.md has the long runs): every input that once escaped a reader as
/// something other than an MB error stays fixed, and each reader survives a few seconds of fresh mutations.
/// </summary>
public sealed class FuzzTests
{
    private static readonly string Regressions = Path.Combine(FuzzTargets.RepoRoot, "tests", "fuzz-regressions");

    public static TheoryData<string> Targets()
    {
        var data = new TheoryData<string>();
        foreach (var t in FuzzTargets.All) data.Add(t.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Past_findings_fail_only_with_MB_errors(string name)
    {
        var target = FuzzTargets.All.Single(t => t.Name == name);
        var dir = Path.Combine(Regressions, name);
        if (!Directory.Exists(dir)) return;
        var work = Directory.CreateTempSubdirectory("modelbuild-fuzz-replay-").FullName;
        try
        {
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                var escaped = Record.Exception(() => target.Run(File.ReadAllBytes(file), work));
                Assert.True(escaped is null or ModelBuildException, $"{Path.GetFileName(file)}: {escaped}");
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Short_fuzz_run_finds_nothing(string name)
    {
        // A fixed seed keeps CI deterministic apart from how many inputs fit in the time.
        var result = Fuzzer.Run(FuzzTargets.All.Single(t => t.Name == name), TimeSpan.FromSeconds(4), seed: 20240611,
            findingsDir: null, perInputLimit: TimeSpan.FromSeconds(60));
        Assert.True(result.Executions > 0);
        Assert.True(result.Findings.Count == 0, string.Join("\n\n", result.Findings.Select(f => f.Detail)));
    }
}
