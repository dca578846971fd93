using System.Text.Json;
using System.Text.RegularExpressions;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Execution;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// A user's view of ModelBuild: a fresh project, one PackageReference, a deploy.yaml and a model the repo's
/// sample never uses (an MLP trained on scikit-learn's digits), built with the real dotnet CLI.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class EndToEndTests(PackageFeedFixture feed)
{
    private const string Manifest = """
        schema: 1
        models:
          - name: digits
            source: models/digits-mlp.onnx
            variants:
              - name: fast
                optimize: extended
            evaluate:
              data: data/digits-test.npz
              metric: top1
            checks:
              parity: { max_abs: 1.0e-4 }
              accuracy: { min: 0.85, max_drop: 0.01 }
              size: { max_mb: 1 }
            deploy:
              variant: fast
              triton: { max_batch_size: 16 }
              docker: triton
        """;

    [Fact]
    public void Build_of_a_fresh_project_produces_artifacts_that_run_in_onnx_runtime()
    {
        using var project = new ConsumerProject(feed, Manifest);

        var build = project.Dotnet("build");

        Assert.True(build.ExitCode == 0, build.ToString());
        var deployed = Path.Combine(project.OutputDirectory, "models", "digits", "fast", "model.onnx");
        var data = NpzReader.ReadAll(RepoPaths.Asset("digits-test.npz"));
        using var runner = new ModelRunner(deployed, new SourceLocation(deployed));
        var outputs = runner.Run(new Dictionary<string, NdArray> { ["pixels"] = data["pixels"] });
        var accuracy = Metrics.TopKAccuracy(outputs["probs"], data["labels"], 1);
        Assert.InRange(accuracy, 0.90, 1.0);

        var config = File.ReadAllText(Path.Combine(project.OutputDirectory, "deploy", "triton", "digits", "config.pbtxt"));
        Assert.Contains("max_batch_size: 16", config);
        Assert.Contains("dims: [ 64 ]", config);
        Assert.True(File.Exists(Path.Combine(project.OutputDirectory, "deploy", "Dockerfile")));
        Assert.Equal(File.ReadAllBytes(deployed), File.ReadAllBytes(Path.Combine(project.OutputDirectory, "deploy", "triton", "digits", "1", "model.onnx")));

        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(project.OutputDirectory, "modelbuild-report.json")));
        Assert.True(report.RootElement.GetProperty("passed").GetBoolean());
        var model = report.RootElement.GetProperty("models")[0];
        Assert.Equal("fast", model.GetProperty("deployed").GetString());
        var fast = model.GetProperty("artifacts").EnumerateArray().Single(a => a.GetProperty("name").GetString() == "fast");
        Assert.Equal(accuracy, fast.GetProperty("score").GetDouble(), 6);
        Assert.True(fast.GetProperty("parity_max_abs").GetDouble() <= 1e-4);
    }

    [Fact]
    public void Second_build_regenerates_nothing_and_a_changed_manifest_regenerates()
    {
        using var project = new ConsumerProject(feed, Manifest);
        Assert.Equal(0, project.Dotnet("build").ExitCode);
        var artifact = Path.Combine(project.IntermediateArtifacts, "models", "digits", "model.onnx");
        var stampTime = File.GetLastWriteTimeUtc(project.Stamp);
        var artifactTime = File.GetLastWriteTimeUtc(artifact);

        var again = project.Dotnet("build", "-v:n");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(stampTime, File.GetLastWriteTimeUtc(project.Stamp));
        Assert.Equal(artifactTime, File.GetLastWriteTimeUtc(artifact));
        Assert.DoesNotContain("modelbuild: read manifests", again.Output);

        Thread.Sleep(1100); // file systems with 1 s timestamps
        project.WriteManifest(Manifest.Replace("max_mb: 1", "max_mb: 2"));
        var changed = project.Dotnet("build", "-v:n");
        Assert.True(changed.ExitCode == 0, changed.ToString());
        Assert.Contains("modelbuild: read manifests", changed.Output);
        Assert.True(File.GetLastWriteTimeUtc(project.Stamp) > stampTime);
    }

    [Fact]
    public void Violated_threshold_fails_the_build_at_the_threshold_line()
    {
        using var project = new ConsumerProject(feed, Manifest.Replace("min: 0.85", "min: 0.999"));

        var build = project.Dotnet("build");

        Assert.NotEqual(0, build.ExitCode);
        var line = Manifest.Split('\n').Select((l, i) => (l, i)).First(p => p.l.Contains("min: 0.85")).i + 1;
        var column = Manifest.Split('\n')[line - 1].IndexOf("0.85", StringComparison.Ordinal) + 1;
        Assert.Matches(new Regex($@"deploy\.yaml\({line},{column}\): error MB3002: .*0\.999"), build.Output);
        Assert.False(File.Exists(project.Stamp));
    }

    [Fact]
    public void Typo_in_the_manifest_fails_the_build_with_its_location()
    {
        using var project = new ConsumerProject(feed, Manifest.Replace("variants:", "varients:"));

        var build = project.Dotnet("build");

        Assert.NotEqual(0, build.ExitCode);
        var line = Manifest.Split('\n').Select((l, i) => (l, i)).First(p => p.l.Contains("variants:")).i + 1;
        var column = Manifest.Split('\n')[line - 1].IndexOf("variants", StringComparison.Ordinal) + 1;
        Assert.Matches(new Regex($@"deploy\.yaml\({line},{column}\): error MB1003: .*varients.*variants"), build.Output);
        Assert.False(Directory.Exists(Path.Combine(project.IntermediateArtifacts, "models")));
    }

    [Fact]
    public void Clean_removes_the_artifacts_and_publish_includes_them()
    {
        using var project = new ConsumerProject(feed, Manifest);
        Assert.Equal(0, project.Dotnet("build").ExitCode);
        var inOutput = Path.Combine(project.OutputDirectory, "models", "digits", "fast", "model.onnx");
        Assert.True(File.Exists(inOutput));

        var publishDir = Path.Combine(project.Directory, "published");
        var publish = project.Dotnet("publish", "-o", publishDir);
        Assert.True(publish.ExitCode == 0, publish.ToString());
        Assert.Equal(File.ReadAllBytes(inOutput), File.ReadAllBytes(Path.Combine(publishDir, "models", "digits", "fast", "model.onnx")));

        var clean = project.Dotnet("clean");
        Assert.True(clean.ExitCode == 0, clean.ToString());
        Assert.False(File.Exists(inOutput));
        Assert.False(File.Exists(Path.Combine(project.IntermediateArtifacts, "models", "digits", "fast", "model.onnx")));
        Assert.False(File.Exists(project.Stamp));
    }
}
