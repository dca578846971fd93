using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// `dotnet build` when things go wrong around the tool: it crashes natively, the build is cancelled, or two
/// projects build at once sharing a model file.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class RobustBuildTests(PackageFeedFixture feed)
{
    private const string Manifest = """
        schema: 1
        models:
          - name: digits
            source: models/digits-mlp.onnx
            evaluate: { data: data/digits-test.npz, metric: top1 }
            checks:
              accuracy: { min: 0.85 }
        """;

    private static ProcessResult Build(string dir, string? hook, params string[] args) =>
        ProcessRunner.Run("dotnet", dir, TimeSpan.FromMinutes(5),
            hook is null ? null : RepoPaths.Fault(hook),
            ["build", .. args, "-nodeReuse:false"]);

    private static List<string> ArtifactsOutsideState(string outDir) =>
        Directory.Exists(outDir)
            ? Directory.EnumerateFiles(outDir, "*", SearchOption.AllDirectories)
                .Where(f => !Path.GetRelativePath(outDir, f).StartsWith(".modelbuild", StringComparison.Ordinal)).ToList()
            : [];

    [Fact]
    public void A_native_crash_in_the_tool_is_MB9004_naming_the_step()
    {
        using var project = new ConsumerProject(feed, Manifest);

        // Environment.FailFast: the process dies by SIGABRT with no managed unwinding, as in a libtorch/ORT crash.
        var crashed = Build(project.Directory, "crash:[digits] evaluate base");

        Assert.NotEqual(0, crashed.ExitCode);
        var expected = OperatingSystem.IsWindows() ? @"exit code -?\d+" : @"exit code 134, SIGABRT";
        Assert.Matches(new Regex($@"error MB9004: modelbuild crashed \({expected}\) during step '\[digits\] evaluate base'"), crashed.Output);
        Assert.DoesNotContain("MSB6006", crashed.Output);
        Assert.False(File.Exists(project.Stamp));
        Assert.Empty(ArtifactsOutsideState(project.IntermediateArtifacts));
        // Recovery from a run that died mid-way is the cancel test's second half.
    }

    [Fact]
    public void A_tool_that_hangs_is_stopped_by_ModelBuildTimeout_with_MB9004_naming_the_step()
    {
        using var project = new ConsumerProject(feed, Manifest);

        var hung = Build(project.Directory, "delay:[digits] evaluate base:600000", "-p:ModelBuildTimeout=20000");

        Assert.NotEqual(0, hung.ExitCode);
        Assert.True(Regex.IsMatch(hung.Output, @"error MB9004: modelbuild was stopped after running longer than ModelBuildTimeout \(20000 ms\) in step '[^']+'"), hung.ToString());
        Assert.False(File.Exists(project.Stamp));
        Assert.Empty(ArtifactsOutsideState(project.IntermediateArtifacts));
    }

    [Fact]
    public void Cancelling_dotnet_build_kills_the_tool_leaves_no_artifact_and_the_next_build_recovers_without_clean()
    {
        using var project = new ConsumerProject(feed, Manifest);
        var held = Path.Combine(project.Directory, "held.marker");
        using var build = ProcessRunner.Start("dotnet", project.Directory,
            RepoPaths.Fault("delay:[digits] evaluate base:120000", held),
            ["build", "-nodeReuse:false"], out var output);

        // Wait until the tool has staged the base model and is held in the evaluation step (the hook says so).
        var state = Path.Combine(project.IntermediateArtifacts, ".modelbuild");
        string? staging = null;
        var watch = Stopwatch.StartNew();
        while (staging is null || !File.Exists(held))
        {
            Assert.False(build.HasExited, $"the build ended before the tool got going:\n{Snapshot(output)}");
            Assert.True(watch.Elapsed < TimeSpan.FromMinutes(4), $"the tool never staged a model:\n{Snapshot(output)}");
            Thread.Sleep(200);
            staging = Directory.Exists(state)
                ? Directory.EnumerateDirectories(state, "staging-*").FirstOrDefault(d => File.Exists(Path.Combine(d, "models", "digits", "model.onnx")))
                : null;
        }
        var toolPid = int.Parse(Path.GetFileName(staging).Split('-')[1], System.Globalization.CultureInfo.InvariantCulture);

        // What Ctrl-C in a terminal sends to dotnet build; MSBuild cancels, and ToolTask kills the tool's tree.
        Assert.Equal(0, ProcessRunner.Run("/bin/kill", project.Directory, "-INT", build.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ExitCode);
        Assert.True(build.WaitForExit(TimeSpan.FromSeconds(60)), $"dotnet build did not stop within 60 s of SIGINT:\n{Snapshot(output)}");
        build.WaitForExit();

        Assert.NotEqual(0, build.ExitCode);
        Assert.False(IsAlive(toolPid), "the tool outlived the cancelled build");
        Assert.Empty(ArtifactsOutsideState(project.IntermediateArtifacts));
        Assert.False(File.Exists(project.Stamp));

        var again = project.Dotnet("build");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.False(Directory.Exists(staging), "the killed run's staging folder was not cleaned up");
        Assert.True(File.Exists(Path.Combine(project.OutputDirectory, "models", "digits", "model.onnx")));
    }

    [Fact]
    public void Two_projects_sharing_a_model_build_in_parallel_without_colliding()
    {
        var root = Directory.CreateTempSubdirectory("modelbuild-parallel-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "shared"));
            File.Copy(RepoPaths.Asset("digits-mlp.onnx"), Path.Combine(root, "shared", "digits.onnx"));
            File.Copy(RepoPaths.Asset("digits-test.npz"), Path.Combine(root, "shared", "digits.npz"));
            var sourceBytes = File.ReadAllBytes(Path.Combine(root, "shared", "digits.onnx"));
            File.WriteAllText(Path.Combine(root, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration><packageSources><add key="modelbuild-local" value="{feed.Feed}" /></packageSources></configuration>
                """);
            foreach (var name in new[] { "A", "B" })
            {
                var dir = Path.Combine(root, name);
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, $"{name}.csproj"), $"""
                    <Project Sdk="Microsoft.NET.Sdk">
                      <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup>
                      <ItemGroup><PackageReference Include="ModelBuild" Version="{feed.Version}" /></ItemGroup>
                    </Project>
                    """);
                File.WriteAllText(Path.Combine(dir, "Program.cs"), "System.Console.WriteLine(1);\n");
                File.WriteAllText(Path.Combine(dir, "deploy.yaml"), Manifest
                    .Replace("models/digits-mlp.onnx", "../shared/digits.onnx").Replace("data/digits-test.npz", "../shared/digits.npz"));
            }
            File.WriteAllText(Path.Combine(root, "all.slnx"), """
                <Solution>
                  <Project Path="A/A.csproj" />
                  <Project Path="B/B.csproj" />
                </Solution>
                """);

            // Both tools are held in the same step for 3 s, so their runs overlap even on a busy machine.
            var build = Build(root, "delay:[digits] load source:3000", "all.slnx", "-m:2", "-v:n");

            Assert.True(build.ExitCode == 0, build.ToString());
            Assert.Equal(2, Regex.Matches(build.Output, @"modelbuild: \[digits\] load source \(\d+ ms\)").Count);
            Assert.Equal(sourceBytes, File.ReadAllBytes(Path.Combine(root, "shared", "digits.onnx")));
            foreach (var name in new[] { "A", "B" })
            {
                var outDir = Path.Combine(root, name, "bin", "Debug", "net10.0");
                Assert.Equal(sourceBytes, File.ReadAllBytes(Path.Combine(outDir, "models", "digits", "model.onnx")));
                Assert.True(File.Exists(Path.Combine(outDir, "modelbuild-report.json")));
                var intermediate = Path.Combine(root, name, "obj", "Debug", "net10.0", "modelbuild", "out");
                Assert.Empty(Directory.EnumerateDirectories(Path.Combine(intermediate, ".modelbuild"), "staging-*"));
                Assert.Empty(Directory.EnumerateFiles(intermediate, "*.mbtmp", SearchOption.AllDirectories));
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); }
            catch (IOException) { }
        }
    }

    private static string Snapshot(System.Text.StringBuilder output) { lock (output) return output.ToString(); }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
    }
}
