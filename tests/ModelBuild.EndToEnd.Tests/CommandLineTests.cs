using System.Text.RegularExpressions;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>The `modelbuild` command as a shell user or CI script runs it: output, diagnostics and exit codes.</summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("modelbuild-cli-").FullName;

    public CommandLineTests()
    {
        File.Copy(RepoPaths.Asset("digits-mlp.onnx"), Path.Combine(_dir, "digits.onnx"));
        File.Copy(RepoPaths.Asset("digits-test.npz"), Path.Combine(_dir, "digits.npz"));
    }

    private ProcessResult Modelbuild(params string[] args) => ProcessRunner.Dotnet(_dir, [RepoPaths.ToolAssembly, .. args]);

    private void Manifest(string yaml) => File.WriteAllText(Path.Combine(_dir, "deploy.yaml"), yaml);

    private const string Valid = """
        schema: 1
        models:
          - name: digits
            source: digits.onnx
            evaluate: { data: digits.npz, metric: top1 }
            checks:
              accuracy: { min: 0.85 }
        """;

    [Fact]
    public void Build_succeeds_with_exit_0_and_prints_the_summary()
    {
        Manifest(Valid);
        var result = Modelbuild("build", "--out", "out");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(new Regex(@"digits \(deployed: base\)"), result.Output);
        Assert.Contains("all checks passed", result.Output);
        Assert.True(File.Exists(Path.Combine(_dir, "out", "models", "digits", "model.onnx")));
    }

    [Fact]
    public void A_failed_check_exits_1_with_a_located_diagnostic()
    {
        Manifest(Valid.Replace("0.85", "0.99"));
        var result = Modelbuild("build", "deploy.yaml", "--out", "out", "-q");
        Assert.Equal(1, result.ExitCode);
        Assert.Matches(new Regex(@"deploy\.yaml\(7,24\): error MB3002: model 'digits', base export: top1 is 0\.91\d*, which breaks accuracy\.min >= 0\.99"), result.Output);
    }

    [Fact]
    public void Bad_input_exits_2_and_writes_nothing()
    {
        Manifest(Valid.Replace("digits.onnx", "missing.onnx"));
        var result = Modelbuild("build", "--out", "out");
        Assert.Equal(2, result.ExitCode);
        Assert.Matches(new Regex(@"deploy\.yaml\(4,13\): error MB1008: .*missing\.onnx"), result.Output);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out", "models")));
    }

    [Fact]
    public void Check_validates_without_touching_models()
    {
        Manifest(Valid);
        File.WriteAllText(Path.Combine(_dir, "digits.onnx"), "not a model, but check never reads it");
        var ok = Modelbuild("check");
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("deploy.yaml OK (1 model(s))", ok.Output);

        Manifest(Valid.Replace("metric: top1", "metric: top3"));
        var bad = Modelbuild("check", "deploy.yaml");
        Assert.Equal(2, bad.ExitCode);
        Assert.Matches(new Regex(@"deploy\.yaml\(5,43\): error MB1004: .*top3"), bad.Output);
    }

    [Theory]
    [InlineData(new string[0], "Required command was not provided")]
    [InlineData(new[] { "frob" }, "Unrecognized command or argument 'frob'")]
    [InlineData(new[] { "build", "--out" }, "Required argument missing for option: '--out'")]
    [InlineData(new[] { "build", "--out", "" }, "Cannot parse argument '' for option '--out'")]
    [InlineData(new[] { "serve", "out", "--port", "abc" }, "Cannot parse argument 'abc' for option '--port'")]
    [InlineData(new[] { "build", "--bogus" }, "Unrecognized option '--bogus'")]
    [InlineData(new[] { "check", "deploy.yaml", "--bogus" }, "Unrecognized option '--bogus'")]
    [InlineData(new[] { "inspect", "-x" }, "Unrecognized option '-x'")]
    public void Command_line_misuse_is_bad_input_exit_2_not_a_failed_check(string[] commandLine, string error)
    {
        Manifest(Valid);
        var result = Modelbuild(commandLine);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"modelbuild: error: {error}", result.Output);
        Assert.DoesNotContain("MB1014", result.Output);
        Assert.False(Directory.Exists(Path.Combine(_dir, "modelbuild-out")));
    }

    [Fact]
    public void A_manifest_named_like_an_option_is_reachable_as_a_relative_path()
    {
        File.WriteAllText(Path.Combine(_dir, "-x.yaml"), Valid);
        var result = Modelbuild("check", "./-x.yaml");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("-x.yaml OK (1 model(s))", result.Output);
    }

    [Theory]
    [InlineData("check")]
    [InlineData("build")]
    public void Check_and_build_refuse_clashing_names_across_manifests_before_any_model_work(string command)
    {
        Manifest(Valid);
        Directory.CreateDirectory(Path.Combine(_dir, "b"));
        File.Copy(Path.Combine(_dir, "digits.onnx"), Path.Combine(_dir, "b", "digits.onnx"));
        File.WriteAllText(Path.Combine(_dir, "b", "deploy.yaml"), "schema: 1\nmodels:\n  - name: digits\n    source: digits.onnx\n");
        var result = command == "check"
            ? Modelbuild("check", "deploy.yaml", "b/deploy.yaml")
            : Modelbuild("build", "deploy.yaml", "b/deploy.yaml", "--out", "out");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Matches(new Regex(@"b/deploy\.yaml\(3,11\): error MB1007: model name 'digits' is also used at .*deploy\.yaml\(3,11\)"), result.Output);
        Assert.DoesNotContain("OK (", result.Output);
        Assert.DoesNotContain("evaluate", result.Output);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));
    }

    [Fact]
    public void Inspect_shows_the_interface_and_ops()
    {
        var result = Modelbuild("inspect", "digits.onnx");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("pixels: Float32[batch,64]", result.Output);
        Assert.Contains("probs: Float32[batch,10]", result.Output);
        Assert.Matches(new Regex(@"Gemm\s+2"), result.Output);

        File.WriteAllBytes(Path.Combine(_dir, "junk.onnx"), [1, 2, 3, 4, 5]);
        var junk = Modelbuild("inspect", "junk.onnx");
        Assert.Equal(2, junk.ExitCode);
        Assert.Contains("error MB2001", junk.Output);
    }

    [Fact]
    public void Inspect_reads_a_torchscript_archive_without_running_it()
    {
        var result = Modelbuild("inspect", Path.Combine(RepoPaths.Root, "testassets", "SampleApp", "models", "fashion.pt"));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("root:       __torch__.FashionCnn", result.Output);
        Assert.Contains("forward:    (self: __torch__.FashionCnn, x: Tensor)", result.Output);
        // conv1 16·1·3·3+16, conv2 32·16·3·3+32, fc1 1568·64+64, fc2 64·10+10, two BatchNorms (16 and 32 channels:
        // weight, bias, mean, var) and their num_batches_tracked scalars.
        Assert.Contains($"parameters: {160 + 4640 + 100416 + 650 + 4 * 16 + 4 * 32 + 2:N0} values", result.Output);
        Assert.Matches(new Regex(@"torch\._convolution\s+2"), result.Output);

        File.WriteAllBytes(Path.Combine(_dir, "junk.pt"), [0x50, 0x4B, 3, 4, 1, 2, 3]);
        var junk = Modelbuild("inspect", "junk.pt");
        Assert.Equal(2, junk.ExitCode);
        Assert.Contains("error MB2001", junk.Output);
    }

    [Fact]
    public void Serve_refuses_a_folder_without_models_and_a_bad_host_as_bad_input()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "empty"));
        var empty = Modelbuild("serve", "empty", "--port", "0");
        Assert.Equal(2, empty.ExitCode);
        Assert.Contains("error MB1008: cannot serve:", empty.Output);
        Assert.Contains("holds no deployed models", empty.Output);

        Manifest(Valid);
        Assert.Equal(0, Modelbuild("build", "--out", "out", "-q").ExitCode);
        var host = Modelbuild("serve", "out", "--host", "banana", "--port", "0");
        Assert.Equal(2, host.ExitCode);
        Assert.Contains("error MB1004: cannot serve: --host 'banana'", host.Output);
    }

    private static readonly Regex BenchRow = new(
        @"^(?<target>in-process ORT|served, unbatched|served, dynamic batching)\s+(?<clients>\d+)\s+(?<requests>\d+)\s+(?<failed>\d+)\s+\d+\s+\[\d+–\d+\]\s+" +
        @"(?<p50>[\d.]+)\s+[\d.]+\s+\d+\s+(?<server>[\d.]+|-)\s+(?<ort>[\d.]+)\s+(?<batch>[\d.]+)$", RegexOptions.Multiline);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Bench_serve_answers_every_request_and_accounts_for_the_server_side(bool binary)
    {
        string[] args = ["bench-serve", "digits.onnx", "--requests", "150", "--max-seconds", "20", "--repeat", "1", "--clients", "1", "4"];
        var result = Modelbuild(binary ? [.. args, "--binary"] : args);
        Assert.True(result.ExitCode == 0, result.ToString());
        var rows = BenchRow.Matches(result.Output).ToList();
        Assert.True(rows.Count == 6, result.ToString());
        foreach (var row in rows)
        {
            // Every request of every measurement answered 200 through the load generator's own HTTP parsing.
            Assert.Equal("150", row.Groups["requests"].Value);
            Assert.Equal("0", row.Groups["failed"].Value);
            if (row.Groups["target"].Value == "in-process ORT")
            {
                Assert.Equal("-", row.Groups["server"].Value);
                continue;
            }
            // The server's handler contains the model run, and the client waits for the handler.
            var server = double.Parse(row.Groups["server"].Value, System.Globalization.CultureInfo.InvariantCulture);
            var ort = double.Parse(row.Groups["ort"].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(ort, 1e-4, server);
            Assert.True(double.Parse(row.Groups["batch"].Value, System.Globalization.CultureInfo.InvariantCulture) >= 1, row.Value);
        }
        Assert.Contains("failed requests: 0 (target 0)", result.Output);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
