using System.Diagnostics;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// Interrupting `modelbuild build` halfway: Ctrl-C (SIGINT) must end in MB9002 with the output folder untouched,
/// and a run killed outright (what MSBuild's cancel does to the tool) must leave nothing the next run trips on.
/// A startup hook (RepoPaths.Fault("delay:…")) holds the run at a step after the models are staged.
/// </summary>
public sealed class CancellationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("modelbuild-cancel-").FullName;
    private const string HeldStep = "[fashion] evaluate optimized";

    public CancellationTests()
    {
        var sample = Path.Combine(RepoPaths.Root, "testassets", "SampleApp");
        foreach (var file in new[] { "deploy.yaml", "models/fashion.pt", "data/test.npz", "data/calib.npy" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(_dir, file))!);
            File.Copy(Path.Combine(sample, file), Path.Combine(_dir, file));
        }
    }

    private string Out => Path.Combine(_dir, "out");

    private Process StartHeld(out System.Text.StringBuilder output)
    {
        var held = Path.Combine(_dir, "held.marker");
        var process = ProcessRunner.Start("dotnet", _dir, RepoPaths.Fault($"delay:{HeldStep}:120000", held),
            [RepoPaths.ToolAssembly, "build", "deploy.yaml", "--out", "out", "--step-starts"], out output);
        var watch = Stopwatch.StartNew();
        while (!Contains(output, "step started: " + HeldStep) || !File.Exists(held))
        {
            Assert.False(process.HasExited, $"the tool exited before reaching the held step:\n{Text(output)}");
            Assert.True(watch.Elapsed < TimeSpan.FromMinutes(3), $"the tool did not reach the held step:\n{Text(output)}");
            Thread.Sleep(100);
        }
        // Really halfway: both models are staged, nothing is in the output folder yet.
        var staged = Directory.EnumerateFiles(Path.Combine(Out, ".modelbuild"), "model.onnx", SearchOption.AllDirectories).ToList();
        Assert.True(staged.Count >= 2, "expected staged models: " + string.Join(", ", staged));
        return process;
    }

    private static bool Contains(System.Text.StringBuilder output, string text) { lock (output) return output.ToString().Contains(text, StringComparison.Ordinal); }
    private static string Text(System.Text.StringBuilder output) { lock (output) return output.ToString(); }

    private List<string> FilesInOutput() =>
        Directory.Exists(Out) ? Directory.EnumerateFiles(Out, "*", SearchOption.AllDirectories).ToList() : [];

    private void RerunSucceeds()
    {
        var rerun = ProcessRunner.Dotnet(_dir, RepoPaths.ToolAssembly, "build", "deploy.yaml", "--out", "out", "-q");
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.True(File.Exists(Path.Combine(Out, "models", "fashion", "optimized", "model.onnx")));
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(Out, ".modelbuild"), "staging-*"));
        Assert.Empty(Directory.EnumerateFiles(Out, "*.mbtmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Ctrl_C_reports_MB9002_leaves_the_output_folder_untouched_and_the_next_run_succeeds()
    {
        using var process = StartHeld(out var output);

        var kill = ProcessRunner.Run("/bin/kill", _dir, "-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, kill.ExitCode);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), $"the tool did not stop within 30 s of SIGINT:\n{Text(output)}");
        process.WaitForExit();

        Assert.True(process.ExitCode == 3, $"exit {process.ExitCode}\n{Text(output)}");
        Assert.Contains("error MB9002: cancelled", Text(output));
        Assert.Empty(FilesInOutput());
        RerunSucceeds();
    }

    [Fact]
    public void A_run_killed_outright_leaves_no_artifact_and_the_next_run_cleans_up_after_it()
    {
        using var process = StartHeld(out _);
        var stagingOfKilledRun = Directory.EnumerateDirectories(Path.Combine(Out, ".modelbuild"), "staging-*").Single();

        process.Kill(entireProcessTree: true); // SIGKILL: no finally block runs, like MSBuild's cancel or the OOM killer
        process.WaitForExit();

        Assert.All(FilesInOutput(), f => Assert.StartsWith(stagingOfKilledRun, f));
        RerunSucceeds();
        Assert.False(Directory.Exists(stagingOfKilledRun));
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
