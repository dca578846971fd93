using System.Globalization;
using ModelBuild.Core.Tests.Pipeline;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Passes;
using ModelBuild.Passes.Quantization;
using ModelBuild.Execution;
using Xunit.Abstractions;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>
/// Accuracy-aware static int8 from deploy.yaml on the sample CNN: the loop aims at checks.accuracy scored with
/// evaluate.metric, the way the accuracy check then scores the artifact, so what it accepts the check passes.
/// </summary>
public sealed class StaticAccuracyAwareTests(ITestOutputHelper output)
{
    private const int Samples = 256;

    private static NdArray Images() => NpzReader.ReadAll(PassTestKit.FashionTest)["input"].Slice(0, Samples);

    /// <summary>Mean per-sample cosine of a model's logits against fp32's on the first test images.</summary>
    private static double CosineVsFloat(string path)
    {
        NdArray Logits(string model)
        {
            using var runner = new ModelRunner(model, PassTestKit.Where);
            return runner.Run(new Dictionary<string, NdArray> { ["input"] = Images() })["logits"];
        }
        return Scorer.Score(MetricKind.Cosine, Logits(path), Logits(PassTestKit.Fashion), null, PassTestKit.Where)!.Value;
    }

    [Fact]
    public void Through_deploy_yaml_the_accuracy_aware_static_variant_meets_a_cosine_goal_plain_static_misses()
    {
        using var dir = new TempDir();
        var plainPath = dir.File("plain.onnx");
        new QuantizeStaticPass(new StaticQuantConfig { LatencyAware = false, PerChannel = false, ReduceRange = true, CalibrationSamples = 256 }, PassTestKit.FashionCalibration, PassTestKit.Where)
            .Run(PassTestKit.Context(PassTestKit.Fashion, plainPath));
        var plainCosine = CosineVsFloat(plainPath);
        // Halfway between plain int8 and float: reachable only by keeping something in float.
        var min = Math.Round((1 + plainCosine) / 2, 8).ToString("0.########", CultureInfo.InvariantCulture);
        using var ws = new PipelineWorkspace($$"""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: int8
                    quantize: { mode: static, latency_aware: false, per_channel: false, reduce_range: true, calibration: { data: data/calib.npy } }
                  - name: int8-aa
                    quantize: { mode: static, latency_aware: false, per_channel: false, reduce_range: true, accuracy_aware: true, calibration: { data: data/calib.npy } }
                evaluate: { data: data/unlabelled.npz, metric: cosine }
                checks:
                  accuracy: { min: {{min}}, severity: warning }
                deploy: { variant: int8-aa }
            """);
        NpzWriter.Write(Path.Combine(ws.Root, "data", "unlabelled.npz"), new Dictionary<string, NdArray> { ["input"] = Images() });
        File.Copy(PassTestKit.FashionCalibration, Path.Combine(ws.Root, "data", "calib.npy"));

        var report = ws.Build();

        foreach (var d in ws.Diagnostics) output.WriteLine(d.ToString());
        Assert.NotNull(report);
        var model = Assert.Single(report!.Models);
        var plain = model.Artifacts.Single(a => a.Name == "int8");
        var aware = model.Artifacts.Single(a => a.Name == "int8-aa");
        output.WriteLine($"min {min}: plain {plain.Score:0.000000}, accuracy-aware {aware.Score:0.000000}");
        foreach (var note in aware.PassNotes) output.WriteLine(note);
        Assert.Equal(plainCosine, plain.Score!.Value, 6);
        Assert.False(plain.Checks.Single(c => c.Check == "accuracy.min").Passed);
        Assert.True(aware.Checks.Single(c => c.Check == "accuracy.min").Passed);
        Assert.StartsWith("accuracy-aware round 0: cosine ", aware.PassNotes[0]);
        Assert.Contains(aware.PassNotes, n => n.StartsWith("kept '", StringComparison.Ordinal));
        Assert.Contains(aware.PassNotes, n => n.StartsWith($"accuracy-aware: goal cosine >= {min} met after ", StringComparison.Ordinal));
        var warning = Assert.Single(ws.Diagnostics);
        Assert.Equal((DiagnosticCodes.AccuracyBelowMinimum, Severity.Warning), (warning.Code, warning.Severity));
        Assert.Contains("int8'", warning.Message);
    }
}
