using System.Text.Json;
using Xunit.Abstractions;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// ONNX models from the wild (see <see cref="PublishedModels"/>: voice-activity detectors with recurrent state and If
/// subgraphs, OCR detection/recognition, wake-word models, background removal with fp16 weights and an already
/// quantized one, a CNTK ResNet at opset 8, BERT-family sentence encoders from NuGet), each through `modelbuild
/// build` with what a newcomer writes first: the source and the variants optimize, fp16 and dynamic int8, no data.
/// The build must succeed; every lossy variant must keep cosine ≥ 0.99 against the source on the generated inputs
/// (MB3011 enforces that floor), unless models.json says the variant is expected to fail it at its line.
/// </summary>
public sealed class PublishedOnnxZooTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Models() => PublishedModels.Names().Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Models))]
    public void Builds_base_optimize_fp16_and_int8_without_data(string name)
    {
        var entry = PublishedModels.Entry(name);
        var model = PublishedModels.Fetch(name);
        var dir = Directory.CreateTempSubdirectory($"modelbuild-onnx-zoo-{name}-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "deploy.yaml"), Manifest(name, model, entry));
            var started = DateTime.UtcNow;
            var result = ProcessRunner.Run("dotnet", dir, TimeSpan.FromMinutes(20), null, RepoPaths.ToolAssembly, "build", "deploy.yaml", "--out", "out");
            var seconds = (DateTime.UtcNow - started).TotalSeconds;
            var expectedFailures = entry.TryGetProperty("expect_failing", out var f) ? f.EnumerateArray().Select(v => v.GetString()!).ToHashSet() : [];
            if (expectedFailures.Count == 0)
                Assert.True(result.ExitCode == 0, $"{name}: modelbuild build failed\n{result}");
            else
            {
                Assert.True(result.ExitCode == 1, $"{name}: expected checks to fail for {string.Join(", ", expectedFailures)}\n{result}");
                foreach (var variant in expectedFailures) Assert.Contains($"variant '{variant}': cosine similarity", result.Output);
            }

            var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "out", "modelbuild-report.json"))).RootElement.GetProperty("models")[0];
            var cosines = new List<string>();
            foreach (var artifact in report.GetProperty("artifacts").EnumerateArray())
            {
                var artifactName = artifact.GetProperty("name").GetString()!;
                var cosine = artifact.GetProperty("parity").EnumerateObject().Select(p => p.Value.GetProperty("cosine").GetDouble()).DefaultIfEmpty(1).Min();
                cosines.Add($"{artifactName} {cosine:0.####}");
                if (!artifact.GetProperty("lossless").GetBoolean() && !expectedFailures.Contains(artifactName))
                    Assert.True(cosine >= 0.99, $"{name} {artifactName}: cosine {cosine} < 0.99 passed the build");
            }
            output.WriteLine($"| {name} | {entry.GetProperty("what").GetString()} | exit {result.ExitCode} | {string.Join(", ", cosines)} | {seconds:F0} s |");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The newcomer's manifest, plus the inputs models.json gives where a model needs them (a sample rate).</summary>
    private static string Manifest(string name, string model, JsonElement entry)
    {
        var lines = new List<string> { "schema: 1", "models:", $"  - name: {name}", $"    source: {model}" };
        if (entry.TryGetProperty("inputs", out var inputs))
        {
            lines.Add("    inputs:");
            foreach (var input in inputs.EnumerateArray())
                foreach (var (property, i) in input.EnumerateObject().Select((p, i) => (p, i)))
                    lines.Add($"      {(i == 0 ? "- " : "  ")}{property.Name}: {JsonSerializer.Serialize(property.Value)}");
        }
        lines.AddRange([
            "    variants:",
            "      - name: optimized",
            "        optimize: extended",
            "      - name: half",
            "        fp16: true",
            "      - name: int8",
            "        quantize: { mode: dynamic }",
        ]);
        return string.Join("\n", lines) + "\n";
    }
}
