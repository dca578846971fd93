namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// Incremental dotnet builds judged by what ends up in bin/: the model the build checked, and the warnings it
/// raised, must not depend on file dates or on whether the previous build already ran the tool.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class IncrementalBuildTests(PackageFeedFixture feed)
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
        """;

    [Fact]
    public void A_source_replaced_by_an_older_dated_model_reruns_and_the_new_model_reaches_bin()
    {
        using var project = new ConsumerProject(feed, Manifest);
        var first = project.Dotnet("build");
        Assert.True(first.ExitCode == 0, first.ToString());
        var shipped = Path.Combine(project.OutputDirectory, "models", "digits", "model.onnx");
        var before = File.ReadAllBytes(shipped);

        // Another valid model with the same interface (the optimized variant), dated last year, copied over the
        // source the way `cp -p`, tar or a checkout of an old revision would.
        var source = Path.Combine(project.Directory, "models", "digits-mlp.onnx");
        var replacement = File.ReadAllBytes(Path.Combine(project.OutputDirectory, "models", "digits", "fast", "model.onnx"));
        Assert.NotEqual(before, replacement);
        File.WriteAllBytes(source, replacement);
        File.SetLastWriteTimeUtc(source, DateTime.UtcNow.AddYears(-1));

        var second = project.Dotnet("build", "-v:n");
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("modelbuild: read manifests", second.Output);
        Assert.Equal(replacement, File.ReadAllBytes(shipped));
    }

    [Fact]
    public void A_failed_check_leaves_its_own_report_in_bin_not_the_last_passing_one()
    {
        using var project = new ConsumerProject(feed, Manifest);
        Assert.Equal(0, project.Dotnet("build").ExitCode);
        var report = Path.Combine(project.OutputDirectory, "modelbuild-report.json");
        Assert.True(System.Text.Json.JsonDocument.Parse(File.ReadAllText(report)).RootElement.GetProperty("passed").GetBoolean());

        project.WriteManifest(Manifest + "\n" + """
                checks:
                  accuracy: { min: 0.999 }
            """);
        var failed = project.Dotnet("build");

        Assert.NotEqual(0, failed.ExitCode);
        Assert.Contains("error MB3002", failed.Output);
        Assert.False(System.Text.Json.JsonDocument.Parse(File.ReadAllText(report)).RootElement.GetProperty("passed").GetBoolean());
        Assert.Contains("failure", File.ReadAllText(Path.Combine(project.OutputDirectory, "modelbuild-report.junit.xml")));
    }

    [Fact]
    public void Check_warnings_come_back_on_every_build_so_warnaserror_keeps_failing()
    {
        using var project = new ConsumerProject(feed, Manifest + "\n" + """
                checks:
                  accuracy: { min: 0.999, severity: warning }
            """);

        var plain = project.Dotnet("build");
        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.Contains("warning MB3002", plain.Output);
        Assert.True(File.Exists(project.Stamp));

        // Nothing changed: the tool does not run again, and its warning is still reported, at its line.
        var again = project.Dotnet("build", "-v:n");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.DoesNotContain("modelbuild: read manifests", again.Output);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(again.Output, @"deploy\.yaml\(\d+,\d+\): warning MB3002"), again.ToString());

        for (var i = 0; i < 2; i++)
        {
            var strict = project.Dotnet("build", "-warnaserror");
            Assert.True(strict.ExitCode != 0, $"build {i + 1} with -warnaserror passed:\n{strict}");
            Assert.Contains("MB3002", strict.Output);
        }
    }
}
