using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// The same inputs give the same artifacts, byte for byte, whichever folder they are built in. Exceptions, each
/// for a stated reason: <c>model.ort</c> (ONNX Runtime's ORT-format writer is not byte-reproducible, see
/// OrtFormatWriter), the report's measured fields (<c>timings_ms</c>, each artifact's <c>latency</c>, the latency
/// check's measured value and the markdown's p50/p95/p99 columns), and <c>.modelbuild/inputs.txt</c>, which lists
/// the absolute paths of the inputs for incremental builds.
/// </summary>
public sealed class ReproducibilityTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("modelbuild-repro-").FullName;

    private const string Manifest = """
        schema: 1
        models:
          - name: digits
            source: digits.onnx
            variants:
              - name: fast
                optimize: extended
              - name: int8
                quantize: { mode: dynamic, latency_aware: false }
            evaluate: { data: digits.npz, metric: top1 }
            checks:
              parity: { max_abs: 1.0e-4 }
              accuracy: { min: 0.85, max_drop: 0.05 }
              latency: { p95_ms: 1000 }
            deploy:
              variant: fast
              triton: { max_batch_size: 8, dynamic_batching: { max_queue_delay_us: 100 } }
              docker: triton
              mobile: ort
        """;

    private static readonly string[] NotReproducible = ["models/digits/fast/model.ort", ".modelbuild/inputs.txt"];

    private string BuildIn(string name)
    {
        var dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        File.Copy(RepoPaths.Asset("digits-mlp.onnx"), Path.Combine(dir, "digits.onnx"));
        File.Copy(RepoPaths.Asset("digits-test.npz"), Path.Combine(dir, "digits.npz"));
        File.WriteAllText(Path.Combine(dir, "deploy.yaml"), Manifest);
        var result = ProcessRunner.Dotnet(dir, RepoPaths.ToolAssembly, "build", "deploy.yaml", "--out", "out", "-q");
        Assert.True(result.ExitCode == 0, result.ToString());
        return Path.Combine(dir, "out");
    }

    [Fact]
    public void Building_twice_gives_byte_identical_artifacts()
    {
        var first = BuildIn("one");
        var second = BuildIn("two");

        var files = Directory.EnumerateFiles(first, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(first, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(files, Directory.EnumerateFiles(second, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(second, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList());
        Assert.Contains("deploy/triton/digits/config.pbtxt", files);
        Assert.Contains("deploy/Dockerfile", files);
        Assert.Contains("models/digits/int8/model.onnx", files);
        Assert.All(NotReproducible, f => Assert.Contains(f, files));

        foreach (var file in files.Except(NotReproducible))
        {
            var a = File.ReadAllBytes(Path.Combine(first, file));
            var b = File.ReadAllBytes(Path.Combine(second, file));
            if (file == "modelbuild-report.json") Assert.Equal(WithoutMeasurements(a), WithoutMeasurements(b));
            else if (file == "modelbuild-report.md") Assert.Equal(WithoutLatencyColumns(a), WithoutLatencyColumns(b));
            // The HTML page is the JSON drawn as tables and plots, latency histograms and memory included, so it
            // differs exactly where the JSON's measurements do; compare it with every number blanked out.
            else if (file == "modelbuild-report.html") Assert.Equal(WithoutNumbers(a), WithoutNumbers(b));
            else Assert.True(a.AsSpan().SequenceEqual(b), $"{file} differs between two builds of the same inputs");
        }
    }

    private static string WithoutMeasurements(byte[] json)
    {
        var report = JsonNode.Parse(json)!.AsObject();
        Assert.True(report.Remove("timings_ms"));
        foreach (var artifact in report["models"]!.AsArray().SelectMany(m => m!["artifacts"]!.AsArray()))
        {
            Assert.True(artifact!.AsObject().Remove("latency"));
            Assert.True(artifact.AsObject().Remove("memory")); // process RSS: a measurement like latency
            if (artifact["vs_base"] is JsonObject vsBase) vsBase.Remove("p50_ratio"); // timed; size_ratio stays compared
            foreach (var check in artifact["checks"]!.AsArray().Where(c => c!["check"]!.GetValue<string>().StartsWith("latency.", StringComparison.Ordinal)))
            {
                check!.AsObject().Remove("measured");
                check.AsObject().Remove("message");
            }
        }
        return report.ToJsonString();
    }

    private static string WithoutNumbers(byte[] text) =>
        Regex.Replace(System.Text.Encoding.UTF8.GetString(text), @"-?\d+(\.\d+)?(e[-+]?\d+)?", "#");

    private static string WithoutLatencyColumns(byte[] markdown)
    {
        // Table rows: | artifact | size | size × base | parity | score | drop | p50 | p50 × base | p95 | p99 | checks |;
        // checks hold "latency.p95_ms <= t (measured x)".
        var lines = System.Text.Encoding.UTF8.GetString(markdown).Split('\n').Select(line =>
        {
            var cells = line.Split('|');
            if (cells.Length != 13 || line.StartsWith("|---", StringComparison.Ordinal)) return line;
            for (var i = 7; i <= 10; i++) cells[i] = " ";
            cells[11] = Regex.Replace(cells[11], @"(latency\.[^(]*)\(measured [^)]*\)", "$1(measured)");
            return string.Join('|', cells);
        });
        return string.Join('\n', lines);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
    }
}
