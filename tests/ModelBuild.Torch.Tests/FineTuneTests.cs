using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Passes.Pruning;
using ModelBuild.Execution;
using ModelBuild.TorchScript;
using ModelBuild.TorchScript.Conversion;
using Onnx;
using TorchSharp;
using Xunit.Abstractions;

namespace ModelBuild.Torch.Tests;

/// <summary>Fine-tuning pruned ONNX models with libtorch on real Fashion-MNIST training data.</summary>
public sealed class FineTuneTests(ITestOutputHelper output) : IDisposable
{
    private static readonly SourceLocation Where = new("deploy.yaml", 9, 9);
    private readonly string _dir = Directory.CreateTempSubdirectory("mb-finetune-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Repo => SampleFashion.Repo;
    private static string Fashion => SampleFashion.Model;
    private static string Test => SampleFashion.Test;
    private static string Train => SampleFashion.Train;

    private static double Top1(string path) => SampleFashion.Top1(path, Where);

    private string Pruned(PruneMethod method, double amount)
    {
        var path = Path.Combine(_dir, $"{method}.onnx");
        new PrunePass(new PruneConfig(method, [amount], RoundTo: 1), Where).Run(new PassContext(Fashion, path, "m", "v", CancellationToken.None));
        return path;
    }

    [Fact]
    public void The_torch_graph_reproduces_onnx_runtime()
    {
        TorchNativeLoader.EnsureLoaded();
        var input = NpzReader.ReadAll(Test)["input"].Slice(0, 16);
        using var runner = new ModelRunner(Fashion, Where);
        var expected = runner.Run(new Dictionary<string, NdArray> { ["input"] = input })["logits"].As<float>();
        using var graph = new OnnxTorchGraph(OnnxModelFile.Load(Fashion), Where);
        using var x = TorchTensors.ToTensor(input);
        using var y = graph.Forward(new Dictionary<string, torch.Tensor> { ["input"] = x });
        var actual = TorchTensors.ToNdArray(y).As<float>();
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second)) < 1e-4);
    }

    [Fact]
    public void Fine_tuning_recovers_the_accuracy_of_a_structurally_pruned_model()
    {
        var pruned = Pruned(PruneMethod.L1Structured, 0.3);
        var tuned = Path.Combine(_dir, "tuned.onnx");
        var result = new OnnxFineTuner().FineTune(pruned, tuned, new FineTuneSettings(Train, Epochs: 1, Samples: 1200), keepZeros: false, Where, CancellationToken.None);
        var (before, after) = (Top1(pruned), Top1(tuned));
        output.WriteLine($"top1 pruned {before:0.000} → fine-tuned {after:0.000}; loss {string.Join(", ", result.EpochLosses.Select(l => l.ToString("0.000")))}");
        Assert.Equal(1200, result.Samples);
        Assert.True(after > before + 0.1, $"{before} → {after}");
        // Same shapes: training changes values only.
        var (a, b) = (new GraphEditor(OnnxModelFile.Load(pruned)), new GraphEditor(OnnxModelFile.Load(tuned)));
        Assert.All(a.Initializers, kv => Assert.Equal(kv.Value.Dims, b.Initializers[kv.Key].Dims));
    }

    [Fact]
    public void The_cosine_schedule_is_the_default_and_changes_the_training()
    {
        Assert.Equal(FinetuneSchedule.Cosine, new FineTuneSettings(Train).Schedule);
        var pruned = Pruned(PruneMethod.L1Structured, 0.3);
        var (cosine, constant) = (Path.Combine(_dir, "cosine.onnx"), Path.Combine(_dir, "constant.onnx"));
        var tuner = new OnnxFineTuner();
        var a = tuner.FineTune(pruned, cosine, new FineTuneSettings(Train, Samples: 640), keepZeros: false, Where, CancellationToken.None);
        var b = tuner.FineTune(pruned, constant, new FineTuneSettings(Train, Samples: 640, Schedule: FinetuneSchedule.None), keepZeros: false, Where, CancellationToken.None);
        var (before, afterCosine, afterConstant) = (Top1(pruned), Top1(cosine), Top1(constant));
        output.WriteLine($"top1 pruned {before:0.000} → cosine {afterCosine:0.000} (loss {a.EpochLosses[0]:0.000}), constant {afterConstant:0.000} (loss {b.EpochLosses[0]:0.000})");
        // Same seed and batches: the first step is identical, the later ones take smaller steps under cosine.
        Assert.NotEqual(a.EpochLosses[0], b.EpochLosses[0]);
        Assert.True(afterCosine > before + 0.05, $"{before} → {afterCosine}");
    }

    [Fact]
    public void Fine_tuning_keeps_pruned_weights_at_zero()
    {
        var pruned = Pruned(PruneMethod.GlobalUnstructured, 0.8);
        var tuned = Path.Combine(_dir, "tuned.onnx");
        new OnnxFineTuner().FineTune(pruned, tuned, new FineTuneSettings(Train, Epochs: 1, BatchSize: 128, Optimizer: FinetuneOptimizer.Sgd, LearningRate: 0.01, Samples: 1000),
            keepZeros: true, Where, CancellationToken.None);
        var (a, b) = (new GraphEditor(OnnxModelFile.Load(pruned)), new GraphEditor(OnnxModelFile.Load(tuned)));
        foreach (var (node, weight) in UnstructuredPruner.Weights(a))
        {
            var before = TensorData.ToFloats(weight);
            var after = TensorData.ToFloats(b.Initializers[weight.Name]);
            Assert.All(before.Zip(after).Where(p => p.First == 0), p => Assert.Equal(0f, p.Second));
            Assert.Contains(before.Zip(after), p => p.First != 0 && p.First != p.Second); // the rest did train
        }
        output.WriteLine($"top1 {Top1(pruned):0.000} → {Top1(tuned):0.000}");
    }

    [Fact]
    public void A_schedule_with_fine_tuning_reports_each_step()
    {
        var goal = new PruneGoal(new EvaluateSpec { Data = Test, Metric = MetricKind.Top1, Samples = 500, Location = Where }, MaxDrop: 0.03);
        var context = new PassContext(Fashion, Path.Combine(_dir, "s.onnx"), "m", "v", CancellationToken.None);
        new PrunePass(new PruneConfig(PruneMethod.L1Structured, [0.2, 0.3], FineTune: new FineTuneSettings(Train, Samples: 800), RoundTo: 16), Where, goal, new OnnxFineTuner()).Run(context);
        var steps = context.Outcome.Pruning!.Steps;
        foreach (var s in steps) output.WriteLine($"{s.Amount}: size {s.SizeBytes} p50 {s.P50Ms} top1 {s.Score:0.000} drop {s.Drop:0.000} kept {s.Kept} loss {string.Join(",", s.FineTuneLosses ?? [])}");
        Assert.Equal(3, steps.Count);
        Assert.Equal([16, 16, 48, 10], context.Outcome.Pruning.Channels.Select(c => c.Kept)); // 0.3 with channel blocks of 16
        Assert.All(steps.Skip(1), s => Assert.NotNull(s.FineTuneLosses));
        Assert.True(steps[1].Drop < 0.03, $"drop {steps[1].Drop}");
    }

    /// <summary>The held-out CNN (BatchNormalization after every conv, a residual block), converted from its TorchScript.</summary>
    private string WideOnnx()
    {
        var pt = Path.Combine(Repo, "testassets", "HoldoutApp", "models", "wide.pt");
        var options = new ConversionOptions
        {
            Inputs = [new ConversionInput("input", TensorElementType.Float32, [Dimension.Dynamic("batch"), Dimension.Fixed(1), Dimension.Fixed(28), Dimension.Fixed(28)])],
            OutputNames = ["logits"],
            Location = Where,
        };
        var path = Path.Combine(_dir, "wide.onnx");
        File.WriteAllBytes(path, OnnxModelFile.Serialize(TorchScriptToOnnx.Convert(TorchScriptReader.Read(pt, Where), options)));
        return path;
    }

    private static Dictionary<string, float[]> RunningStatistics(string path)
    {
        var model = OnnxModelFile.Load(path);
        var g = new GraphEditor(model);
        return model.Graph.Node.Where(n => n.OpType == "BatchNormalization").SelectMany(n => new[] { n.Input[3], n.Input[4] })
            .ToDictionary(n => n, n => TensorData.ToFloats(g.Initializers[n]));
    }

    [Fact]
    public void Batch_norm_statistics_are_re_estimated_for_the_pruned_channels()
    {
        var wide = WideOnnx();
        var pruned = Path.Combine(_dir, "wide-pruned.onnx");
        new PrunePass(new PruneConfig(PruneMethod.L1Structured, [0.3], RoundTo: 16), Where).Run(new PassContext(wide, pruned, "m", "v", CancellationToken.None));
        var tuned = Path.Combine(_dir, "wide-tuned.onnx");
        new OnnxFineTuner().FineTune(pruned, tuned, new FineTuneSettings(Train, Samples: 640), keepZeros: false, Where, CancellationToken.None);

        var (before, after) = (RunningStatistics(pruned), RunningStatistics(tuned));
        Assert.Equal(12, before.Count);
        // Every BatchNormalization's running mean and variance moved towards the pruned model's own activations.
        Assert.All(before, kv => Assert.True(kv.Value.Zip(after[kv.Key]).Any(p => Math.Abs(p.First - p.Second) > 1e-4), kv.Key));
        var variances = OnnxModelFile.Load(tuned).Graph.Node.Where(n => n.OpType == "BatchNormalization").Select(n => n.Input[4]);
        Assert.All(variances, v => Assert.All(after[v], x => Assert.True(x > 0 && float.IsFinite(x), v)));
        var (pre, post) = (Top1(pruned), Top1(tuned));
        output.WriteLine($"top1 pruned {pre:0.000} → fine-tuned on 640 samples {post:0.000}");
        Assert.True(post > pre + 0.05, $"{pre} → {post}");
    }

    [Fact]
    public void Distillation_pulls_the_pruned_model_towards_its_teacher()
    {
        var pruned = Pruned(PruneMethod.L1Structured, 0.5);
        var (labelsOnly, distilled) = (Path.Combine(_dir, "labels.onnx"), Path.Combine(_dir, "distilled.onnx"));
        var tuner = new OnnxFineTuner();
        var settings = new FineTuneSettings(Train, Samples: 1280);
        tuner.FineTune(pruned, labelsOnly, settings, keepZeros: false, Where, CancellationToken.None);
        var d = tuner.FineTune(pruned, distilled, settings with { Distill = 1, Temperature = 2, Teacher = Fashion }, keepZeros: false, Where, CancellationToken.None);

        // With only the teacher's term, the student learns to answer like the teacher, not like the labels.
        var input = NpzReader.ReadAll(Test)["input"];
        double Agreement(string path)
        {
            using var teacher = new ModelRunner(Fashion, Where);
            using var student = new ModelRunner(path, Where);
            var t = teacher.Run(new Dictionary<string, NdArray> { ["input"] = input })["logits"].As<float>();
            var s = student.Run(new Dictionary<string, NdArray> { ["input"] = input })["logits"].As<float>();
            static int ArgMax(ReadOnlySpan<float> row) { var best = 0; for (var i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i; return best; }
            var rows = t.Length / 10;
            return Enumerable.Range(0, rows).Count(r => ArgMax(t.AsSpan(r * 10, 10)) == ArgMax(s.AsSpan(r * 10, 10))) / (double)rows;
        }
        var (a, b) = (Agreement(labelsOnly), Agreement(distilled));
        output.WriteLine($"agreement with the teacher: labels only {a:0.000}, distilled {b:0.000}; distillation loss {string.Join(", ", d.EpochLosses)}");
        Assert.True(b > a + 0.02, $"labels only {a}, distilled {b}");
    }
}
