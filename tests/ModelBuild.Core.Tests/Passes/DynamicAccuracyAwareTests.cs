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
/// Accuracy-aware dynamic int8 on the sample's real Fashion CNN (its two Convs and two Gemms are what dynamic quantizes), run by
/// real ONNX Runtime: the goal is checks.accuracy scored with evaluate.metric, as the build's accuracy check scores it.
/// </summary>
public sealed class DynamicAccuracyAwareTests(ITestOutputHelper output)
{
    private const int Samples = 256;
    private const int EvaluationBatch = 32;

    /// <summary>The first test images without labels: metric cosine then compares with the float model's outputs.</summary>
    private static string WriteUnlabelled(string directory)
    {
        var path = Path.Combine(directory, "unlabelled.npz");
        var images = NpzReader.ReadAll(PassTestKit.FashionTest)["input"].Slice(0, Samples);
        NpzWriter.Write(path, new Dictionary<string, NdArray> { ["input"] = images });
        return path;
    }

    /// <summary>Mean per-sample cosine of a model's logits against fp32's, run in the build's evaluation batches.</summary>
    private static double CosineVsFloat(string path, string data)
    {
        var images = NpzReader.ReadAll(data)["input"];
        NdArray Logits(string model)
        {
            using var runner = new ModelRunner(model, PassTestKit.Where);
            var parts = new List<NdArray>();
            for (var start = 0; start < images.Shape[0]; start += EvaluationBatch)
                parts.Add(runner.Run(new Dictionary<string, NdArray> { ["input"] = images.Slice(start, EvaluationBatch) })["logits"]);
            return NdArrayConcat.AlongFirstAxis(parts);
        }
        return Scorer.Score(MetricKind.Cosine, Logits(path), Logits(PassTestKit.Fashion), null, PassTestKit.Where)!.Value;
    }

    /// <param name="manifestDefaults">Leave out what a deploy.yaml dynamic variant leaves out by default (Conv).</param>
    private static string QuantizePlain(TempDir dir, bool manifestDefaults = false)
    {
        var path = dir.File("plain.onnx");
        var config = new DynamicQuantConfig
        {
            LatencyAware = false,
            PerChannel = true,
            ExcludeOps = manifestDefaults ? QuantizableOps.LeftOut(QuantizeMode.Dynamic, null).ToHashSet() : new HashSet<string>(),
        };
        new QuantizeDynamicPass(config, PassTestKit.Where).Run(PassTestKit.Context(PassTestKit.Fashion, path));
        return path;
    }

    private static int FloatGemms(string path) => PassTestKit.OpCounts(path).GetValueOrDefault("Gemm");

    private static int FloatLayers(string path) => FloatGemms(path) + PassTestKit.OpCounts(path).GetValueOrDefault("Conv");

    [Fact]
    public void Cosine_goal_that_plain_dynamic_misses_is_met_by_keeping_layers_in_float()
    {
        using var dir = new TempDir();
        var data = WriteUnlabelled(dir.Path);
        var plainCosine = CosineVsFloat(QuantizePlain(dir), data);
        // Halfway between plain int8 and float: reachable only by keeping something in float.
        var goal = new AccuracyGoal(MetricKind.Cosine, Min: (1 + plainCosine) / 2);
        var evaluate = new EvaluateSpec { Data = data, Metric = MetricKind.Cosine, Location = PassTestKit.Where };

        var outPath = dir.File("aa.onnx");
        var context = PassTestKit.Context(PassTestKit.Fashion, outPath);
        new QuantizeDynamicPass(new DynamicQuantConfig { LatencyAware = false, PerChannel = true }, PassTestKit.Where,
            new AccuracyTarget(evaluate, 0) { Goal = goal, JudgeBatch = EvaluationBatch }).Run(context);

        var cosine = CosineVsFloat(outPath, data);
        output.WriteLine($"plain {plainCosine:0.000000}, goal {goal.Min:0.000000}, accuracy-aware {cosine:0.000000}");
        foreach (var note in context.Outcome.Notes) output.WriteLine(note);
        Assert.True(plainCosine < goal.Min, "plain dynamic int8 misses the goal");
        Assert.True(cosine >= goal.Min, $"cosine {cosine} below the goal {goal.Min}");
        Assert.InRange(FloatLayers(outPath), 1, 4);
        Assert.StartsWith("accuracy-aware round 0: cosine ", context.Outcome.Notes[0]);
        Assert.Contains(context.Outcome.Notes, n => n.StartsWith("kept '", StringComparison.Ordinal) && (n.Contains("(Gemm) in float", StringComparison.Ordinal) || n.Contains("(Conv) in float", StringComparison.Ordinal)));
        Assert.Matches(@"^accuracy-aware: goal cosine >= [0-9.]+ met after [2-5] round\(s\); kept in float: '", context.Outcome.Notes[^1]);
        // The last round's score is the one measured independently here, in the build's evaluation batches.
        var noted = System.Text.RegularExpressions.Regex.Match(context.Outcome.Notes[^2], @"^accuracy-aware round \d: cosine ([0-9.]+) ").Groups[1].Value;
        Assert.Equal(cosine, double.Parse(noted, CultureInfo.CurrentCulture), 5);
    }

    [Fact]
    public void Top1_goal_met_by_plain_dynamic_keeps_everything_quantized()
    {
        using var dir = new TempDir();
        var evaluate = new EvaluateSpec { Data = PassTestKit.FashionTest, Metric = MetricKind.Top1, Samples = Samples, Location = PassTestKit.Where };
        var outPath = dir.File("aa.onnx");
        var context = PassTestKit.Context(PassTestKit.Fashion, outPath);
        new QuantizeDynamicPass(new DynamicQuantConfig { LatencyAware = false, PerChannel = true }, PassTestKit.Where,
            new AccuracyTarget(evaluate, 0) { Goal = new AccuracyGoal(MetricKind.Top1, MaxDrop: 0.01), JudgeBatch = EvaluationBatch }).Run(context);

        foreach (var note in context.Outcome.Notes) output.WriteLine(note);
        Assert.Equal(0, FloatLayers(outPath));
        Assert.Equal(2, PassTestKit.OpCounts(outPath)["MatMulInteger"]);
        Assert.Equal(2, PassTestKit.OpCounts(outPath)["ConvInteger"]);
        Assert.Equal("accuracy-aware: goal drop <= 0.01 met after 1 round(s); kept in float: none", context.Outcome.Notes[^1]);
    }

    [Fact]
    public void Top1_goal_without_labels_is_a_data_error()
    {
        using var dir = new TempDir();
        var evaluate = new EvaluateSpec { Data = WriteUnlabelled(dir.Path), Metric = MetricKind.Top1, Location = PassTestKit.Where };
        var pass = new QuantizeDynamicPass(new DynamicQuantConfig { LatencyAware = false }, PassTestKit.Where,
            new AccuracyTarget(evaluate, 0) { Goal = new AccuracyGoal(MetricKind.Top1, Min: 0.8) });
        var e = Assert.Throws<ModelBuildException>(() => pass.Run(PassTestKit.Context(PassTestKit.Fashion, dir.File("x.onnx"))));
        Assert.Equal(DiagnosticCodes.DataMismatch, e.Diagnostic.Code);
        Assert.Contains("needs labels", e.Message);
    }

    [Fact]
    public void Through_deploy_yaml_the_accuracy_aware_variant_passes_the_cosine_check_plain_dynamic_fails()
    {
        using var dir = new TempDir();
        var plainCosine = CosineVsFloat(QuantizePlain(dir, manifestDefaults: true), WriteUnlabelled(dir.Path));
        var min = Math.Round((1 + plainCosine) / 2, 8).ToString("0.########", CultureInfo.InvariantCulture);
        using var ws = new PipelineWorkspace($$"""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: int8-dynamic
                    quantize: { mode: dynamic, latency_aware: false, per_channel: true }
                  - name: int8-dynamic-aa
                    quantize: { mode: dynamic, latency_aware: false, per_channel: true, accuracy_aware: true }
                evaluate: { data: data/unlabelled.npz, metric: cosine }
                checks:
                  accuracy: { min: {{min}}, severity: warning }
                deploy: { variant: int8-dynamic-aa }
            """);
        WriteUnlabelled(Path.Combine(ws.Root, "data"));

        var report = ws.Build();

        Assert.NotNull(report);
        var model = Assert.Single(report!.Models);
        Assert.Equal("cosine", model.Evaluation!.Metric);
        var plain = model.Artifacts.Single(a => a.Name == "int8-dynamic");
        var aware = model.Artifacts.Single(a => a.Name == "int8-dynamic-aa");
        output.WriteLine($"min {min}: plain {plain.Score:0.000000}, accuracy-aware {aware.Score:0.000000}");
        foreach (var note in aware.PassNotes) output.WriteLine(note);
        Assert.False(plain.Checks.Single(c => c.Check == "accuracy.min").Passed);
        Assert.True(aware.Checks.Single(c => c.Check == "accuracy.min").Passed);
        Assert.Contains(aware.PassNotes, n => n.StartsWith("accuracy-aware: goal cosine >= ", StringComparison.Ordinal) && n.Contains(" met after ", StringComparison.Ordinal));
        // Only the plain variant's miss is reported, as the warning the manifest asked for, at the threshold.
        var warning = Assert.Single(ws.Diagnostics);
        Assert.Equal((DiagnosticCodes.AccuracyBelowMinimum, Severity.Warning), (warning.Code, warning.Severity));
        Assert.Contains("int8-dynamic'", warning.Message);
        Assert.Equal(ws.Find(min), (warning.Location!.Line, warning.Location.Column));
    }
}
