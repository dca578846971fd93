using System.Text.Json;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Execution;
using Xunit.Abstractions;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// The architecture zoo (testassets/zoo/make_zoo.py): ~50 networks nobody here tuned the converter to — torchvision
/// 0.14's classification, segmentation, detection-backbone and video builders, Hugging-Face-style encoders and
/// decoders, UNets, super-resolution, audio — traced (some scripted) by Debian's PyTorch. Each goes through
/// `modelbuild build` with a manifest that declares only its inputs (no evaluation data, the first thing a newcomer
/// tries); the base ONNX artifact is then run by ONNX Runtime on the zoo's own inputs and must match PyTorch's eager
/// outputs within 1e-4 of the output's magnitude (max |output|), and that output must not be constant.
/// </summary>
public sealed class ArchitectureZooTests(ITestOutputHelper output)
{
    public const double Tolerance = 1e-4;

    public static IEnumerable<object[]> Models() => Zoo.Entries().Select(e => new object[] { e });

    [Theory]
    [MemberData(nameof(Models))]
    public void Builds_without_data_and_matches_pytorch(string name)
    {
        var entry = Zoo.Entry(name);
        var dir = Directory.CreateTempSubdirectory($"modelbuild-zoo-{name}-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "deploy.yaml"), Manifest(entry));
            var started = DateTime.UtcNow;
            var result = ProcessRunner.Run("dotnet", dir, TimeSpan.FromMinutes(10), null, RepoPaths.ToolAssembly, "build", "deploy.yaml", "--out", "out");
            var seconds = (DateTime.UtcNow - started).TotalSeconds;
            Assert.True(result.ExitCode == 0, $"{name}: modelbuild build failed\n{result}");

            var reference = NpzReader.ReadAll(Path.Combine(Zoo.Directory, entry.GetProperty("reference").GetString()!));
            var inputs = reference.Where(p => !p.Key.StartsWith("output", StringComparison.Ordinal)).ToDictionary(p => p.Key, p => p.Value);
            var model = Path.Combine(dir, "out", "models", name, "model.onnx");
            using var runner = new ModelRunner(model, new SourceLocation(model));
            var outputs = runner.Run(inputs);
            var expected = reference.Keys.Where(k => k.StartsWith("output", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(expected.Length, outputs.Count);
            var worst = 0.0;
            foreach (var key in expected)
            {
                var actual = outputs[key]; // the converter names unnamed outputs output0, output1, … as the zoo does
                var e = reference[key].ToDoubles();
                var a = actual.ToDoubles();
                Assert.Equal(reference[key].Shape, actual.Shape);
                // A reference that is constant (a zero-initialized head) would make any comparison pass.
                Assert.True(e.Any(x => x != e[0]), $"{name} {key}: PyTorch's output is constant, so the comparison proves nothing");
                var scale = e.Select(Math.Abs).Max();
                var diff = e.Zip(a, (x, y) => Math.Abs(x - y)).Max() / scale;
                Assert.False(double.IsNaN(diff), $"{name} {key}: NaN in the artifact's outputs");
                Assert.True(diff <= Tolerance, $"{name} {key}: max-abs / max |output| {diff:E2} > {Tolerance:E0}");
                worst = Math.Max(worst, diff);
            }
            // The pipeline's own parity check ran against libtorch on generated inputs that make the model do something.
            var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "out", "modelbuild-report.json"))).RootElement
                .GetProperty("models")[0];
            var parity = report.GetProperty("artifacts")[0].GetProperty("parity").EnumerateObject().ToList();
            Assert.NotEmpty(parity);
            // The artifact carries the weights once: folded copies (a Linear's weight transposed for a 3-D MatMul) replace
            // the parameter they came from (swin_v2_t's model was 1.9× its archive when both shipped). Slack for
            // tables computed in forward and folded (position biases, rotary tables, masks).
            var archive = new FileInfo(Path.Combine(Zoo.Directory, entry.GetProperty("source").GetString()!)).Length;
            var size = new FileInfo(model).Length;
            Assert.True(size <= 1.3 * archive + 256 * 1024, $"{name}: model.onnx {size:N0} bytes for an archive of {archive:N0}");
            output.WriteLine($"| {name} | {entry.GetProperty("family").GetString()} | {entry.GetProperty("mode").GetString()} | passed | {worst:E1} | " +
                $"{(double)size / archive:0.00} | {seconds:F1} s |");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>What a newcomer writes: the source, its inputs with a named batch axis, nothing else.</summary>
    internal static string Manifest(JsonElement entry)
    {
        var lines = new List<string>
        {
            "schema: 1",
            "models:",
            $"  - name: {entry.GetProperty("name").GetString()}",
            $"    source: {Path.Combine(Zoo.Directory, entry.GetProperty("source").GetString()!)}",
            "    inputs:",
        };
        foreach (var input in entry.GetProperty("inputs").EnumerateArray())
        {
            lines.Add($"      - name: {input.GetProperty("name").GetString()}");
            lines.Add($"        shape: [{string.Join(", ", input.GetProperty("shape").EnumerateArray().Select(d => d.ToString()))}]");
            lines.Add($"        dtype: {input.GetProperty("dtype").GetString()}");
        }
        return string.Join("\n", lines) + "\n";
    }
}

/// <summary>
/// Where the zoo lives: $MODELBUILD_ZOO_DIR, else artifacts/zoo under the repository. Generated on first use by
/// Debian's PyTorch (apt-get install python3-torch python3-torchvision; .ci/run does), then reused as a cache.
/// </summary>
public static class Zoo
{
    public static string Directory { get; } = Environment.GetEnvironmentVariable("MODELBUILD_ZOO_DIR") is { Length: > 0 } d
        ? d : Path.Combine(RepoPaths.Root, "artifacts", "zoo");

    private static readonly Lazy<JsonElement> Index = new(Load);

    public static IEnumerable<string> Entries() =>
        Index.Value.GetProperty("models").EnumerateArray().Select(e => e.GetProperty("name").GetString()!);

    public static JsonElement Entry(string name) =>
        Index.Value.GetProperty("models").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);

    private static JsonElement Load()
    {
        var index = Path.Combine(Directory, "zoo.json");
        var script = Path.Combine(RepoPaths.Root, "testassets", "zoo", "make_zoo.py");
        // The script skips entries it already wrote with the same script version, so this is cheap when current.
        var result = ProcessRunner.Run("/usr/bin/python3", RepoPaths.Root, TimeSpan.FromMinutes(20), null, script, "--out", Directory);
        if (result.ExitCode != 0 || !File.Exists(index))
            throw new InvalidOperationException(
                $"could not generate the architecture zoo in {Directory} with Debian's PyTorch " +
                $"(apt-get install python3-torch python3-torchvision, as .ci/run does):\n{result}");
        return JsonDocument.Parse(File.ReadAllText(index)).RootElement.Clone();
    }
}
