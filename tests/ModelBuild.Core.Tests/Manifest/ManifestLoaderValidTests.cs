using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Manifest;

public sealed class ManifestLoaderValidTests
{
    private const string Full = """
        # yaml-language-server: $schema=../schema/deploy.schema.json
        schema: 1
        requires: ">= 1.0.0, < 2.0"
        models:
          - name: fashion
            source: models/fashion.pt
            inputs:
              - name: input
                shape: [batch, 1, 28, 28]
                dtype: float32
              - name: mask
                shape: [batch]
                dtype: bool
            outputs:
              - name: logits
                range: [-50, 50.5]
            export:
              onnx: { opset: 18 }
              torchscript: true
            variants:
              - name: slim
                prune:
                  { method: l1-structured, amount: [0.2, 0.3], n: 2,
                    round_to: 8,
                    finetune: { data: data/train.npz, samples: 3000, epochs: 2, batch_size: 32, learning_rate: 0.0005, optimizer: sgd, loss: mse, schedule: none } }
              - name: int8
                from: slim
                optimize: extended
                quantize:
                  mode: static
                  per_channel: true
                  calibration: { data: data/calib.npy, samples: 128, method: percentile }
                  exclude: { ops: [Softmax, Gemm], nodes: [fc2] }
              - name: half
                fp16: { keep_io_types: false }
            evaluate:
              data: data/test.npz
              metric: top5
              samples: 1000
            checks:
              parity: { max_abs: 1.0e-4 }
              accuracy: { min: 0.85, max_drop: 0.01, severity: warning }
              latency: { p95_ms: 5, batch: 4 }
              size: { max_mb: 2 }
              checklist: true
            deploy:
              variant: int8
              triton: { max_batch_size: 8, dynamic_batching: { max_queue_delay_us: 100, preferred_batch_size: [4, 8] }, instance_group: [ { kind: cpu, count: 2 }, { kind: gpu } ] }
              docker: triton
              kserve: true
              mobile: ort
          - name: sharp-net
            source: { torchsharp: { assembly: bin/My.dll, type: My.Net, weights: net.dat } }
            inputs:
              - { name: x, shape: [1, 3] }
            evaluate:
              data: { inputs: data/x.npy, labels: data/y.npy }
              metric: mae
          - name: plain
            source: models/plain.onnx
        """;

    private static readonly string[] Files =
    [
        "models/fashion.pt", "models/plain.onnx", "data/train.npz", "data/calib.npy", "data/test.npz",
        "bin/My.dll", "net.dat", "data/x.npy", "data/y.npy",
    ];

    [Fact]
    public void FullManifestParsesWithoutDiagnostics()
    {
        using var ws = new ManifestWorkspace(Files);
        var m = ws.Parse(Full);
        Assert.Empty(ws.Diagnostics);
        Assert.NotNull(m);
        Assert.Equal(ws.ManifestPath, m.Path);
        Assert.Equal(ws.Root, m.Directory);
        Assert.Equal(1, m.Schema);
        Assert.True(m.Requires!.Satisfies(NuGet.Versioning.NuGetVersion.Parse("1.9.9")));
        Assert.False(m.Requires.Satisfies(NuGet.Versioning.NuGetVersion.Parse("2.0.0")));
        Assert.Equal(["fashion", "sharp-net", "plain"], m.Models.Select(x => x.Name.Value));
    }

    [Fact]
    public void ModelSourceInputsOutputsAndExport()
    {
        using var ws = new ManifestWorkspace(Files);
        var f = ws.Parse(Full)!.Models[0];
        Assert.Equal((5, 5), (f.Location.Line, f.Location.Column));
        Assert.Equal((5, 11), (f.Name.Location.Line, f.Name.Location.Column));
        Assert.Equal(ModelSourceKind.TorchScript, f.Source.Kind);
        Assert.Equal(ws.Full("models/fashion.pt"), f.Source.Path);
        Assert.Equal((6, 13), (f.Source.Location.Line, f.Source.Location.Column));

        Assert.Equal(2, f.Inputs!.Count);
        Assert.Equal("input", f.Inputs[0].Name.Value);
        Assert.Equal([Dimension.Dynamic("batch"), Dimension.Fixed(1), Dimension.Fixed(28), Dimension.Fixed(28)], f.Inputs[0].Shape);
        Assert.Equal(TensorElementType.Float32, f.Inputs[0].DType);
        Assert.Equal(TensorElementType.Bool, f.Inputs[1].DType);
        Assert.Equal("logits", f.Outputs![0].Name.Value);
        Assert.Equal((-50.0, 50.5), f.Outputs[0].Range);
        Assert.Equal(18, f.Export.OnnxOpset);
        Assert.True(f.Export.TorchScript);
    }

    [Fact]
    public void VariantsBindWithDefaultsAndChains()
    {
        using var ws = new ManifestWorkspace(Files);
        var v = ws.Parse(Full)!.Models[0].Variants;
        Assert.Equal(["slim", "int8", "half"], v.Select(x => x.Name.Value));

        Assert.Equal("base", v[0].From.Value);
        Assert.Equal(PruneMethod.L1Structured, v[0].Prune!.Method);
        Assert.Equal([0.2, 0.3], v[0].Prune!.Amounts);
        Assert.Equal(ws.Full("data/train.npz"), v[0].Prune!.Finetune!.Data);
        Assert.Equal(2, v[0].Prune!.Finetune!.Epochs);
        Assert.Equal(2, v[0].Prune!.Norm);
        Assert.Equal(8, v[0].Prune!.RoundTo);
        Assert.Equal(3000, v[0].Prune!.Finetune!.Samples);
        Assert.Equal(32, v[0].Prune!.Finetune!.BatchSize);
        Assert.Equal(0.0005, v[0].Prune!.Finetune!.LearningRate);
        Assert.Equal(FinetuneOptimizer.Sgd, v[0].Prune!.Finetune!.Optimizer);
        Assert.Equal(FinetuneLoss.Mse, v[0].Prune!.Finetune!.Loss);
        Assert.Equal(FinetuneSchedule.None, v[0].Prune!.Finetune!.Schedule);
        // Keys left out take FineTuneSettings' defaults, the only ones (issue 18).
        var settings = ModelBuild.Passes.Pruning.FineTuneSettings.From(v[0].Prune!.Finetune!);
        Assert.Equal(0, settings.Distill); // off unless asked for
        Assert.Equal(2, settings.Temperature);

        Assert.Equal("slim", v[1].From.Value);
        Assert.Equal((27, 15), (v[1].From.Location.Line, v[1].From.Location.Column));
        Assert.Equal(OptimizationLevel.Extended, v[1].Optimize!.Value.Value);
        var q = v[1].Quantize!;
        Assert.Equal(QuantizeMode.Static, q.Mode);
        Assert.True(q.PerChannel);
        Assert.Equal(ws.Full("data/calib.npy"), q.Calibration!.Data);
        Assert.Equal(128, q.Calibration.Samples);
        Assert.Equal(CalibrationMethod.Percentile, q.Calibration.Method);
        Assert.Equal(["Softmax", "Gemm"], q.ExcludeOps);
        Assert.Equal(["fc2"], q.ExcludeNodes);

        Assert.False(v[2].Fp16!.KeepIoTypes);
        Assert.Null(v[2].Optimize);
    }

    [Fact]
    public void EvaluateChecksAndDeploy()
    {
        using var ws = new ManifestWorkspace(Files);
        var f = ws.Parse(Full)!.Models[0];
        Assert.Equal(ws.Full("data/test.npz"), f.Evaluate!.Data);
        Assert.Equal(MetricKind.Top5, f.Evaluate.Metric);
        Assert.Equal(1000, f.Evaluate.Samples);

        Assert.Equal(1.0e-4, f.Checks.Parity!.MaxAbs.Value);
        Assert.Equal((41, 26), (f.Checks.Parity.MaxAbs.Location.Line, f.Checks.Parity.MaxAbs.Location.Column));
        Assert.Equal(Severity.Error, f.Checks.Parity.Severity);
        Assert.Equal(0.85, f.Checks.Accuracy!.Min!.Value.Value);
        Assert.Equal(0.01, f.Checks.Accuracy.MaxDrop!.Value.Value);
        Assert.Equal(Severity.Warning, f.Checks.Accuracy.Severity);
        Assert.Equal(5, f.Checks.Latency!.P95Ms.Value);
        Assert.Equal(4, f.Checks.Latency.Batch);
        Assert.Equal(2, f.Checks.Size!.MaxMb.Value);
        Assert.True(f.Checks.Checklist);

        Assert.Equal("int8", f.Deploy.Variant.Value);
        Assert.Equal(8, f.Deploy.Triton!.MaxBatchSize);
        Assert.Equal(100, f.Deploy.Triton.DynamicBatching!.MaxQueueDelayUs);
        Assert.Equal([4, 8], f.Deploy.Triton.DynamicBatching.PreferredBatchSizes);
        Assert.Equal([new InstanceGroupSpec(InstanceKind.Cpu, 2), new InstanceGroupSpec(InstanceKind.Gpu, 1)], f.Deploy.Triton.InstanceGroups);
        Assert.Equal(DockerTarget.Triton, f.Deploy.Docker);
        Assert.NotNull(f.Deploy.KServe);
        Assert.Equal([MobileFormat.Ort], f.Deploy.Mobile);
    }

    [Fact]
    public void TorchSharpSourceAndSplitEvaluateData()
    {
        using var ws = new ManifestWorkspace(Files);
        var s = ws.Parse(Full)!.Models[1];
        Assert.Equal(ModelSourceKind.TorchSharp, s.Source.Kind);
        Assert.Null(s.Source.Path);
        Assert.Equal(new TorchSharpSource(ws.Full("bin/My.dll"), "My.Net", ws.Full("net.dat")), s.Source.TorchSharp);
        Assert.Equal([Dimension.Fixed(1), Dimension.Fixed(3)], s.Inputs![0].Shape);
        Assert.Null(s.Evaluate!.Data);
        Assert.Equal(ws.Full("data/x.npy"), s.Evaluate.InputsFile);
        Assert.Equal(ws.Full("data/y.npy"), s.Evaluate.LabelsFile);
        Assert.Equal(MetricKind.Mae, s.Evaluate.Metric);
    }

    [Fact]
    public void DefaultsApplyWhenKeysAreLeftOut()
    {
        using var ws = new ManifestWorkspace(Files);
        var m = ws.Parse(Full)!;
        var p = m.Models[2];
        Assert.Equal(ModelSourceKind.Onnx, p.Source.Kind);
        Assert.Null(p.Inputs);
        Assert.Equal(17, p.Export.OnnxOpset);
        Assert.False(p.Export.TorchScript);
        Assert.Empty(p.Variants);
        Assert.Null(p.Evaluate);
        Assert.Equal("base", p.Deploy.Variant.Value);
        Assert.Equal(DockerTarget.None, p.Deploy.Docker);
        Assert.Empty(p.Deploy.Mobile);
        Assert.Null(p.Deploy.KServe);
        Assert.Null(p.Checks.Parity);
        Assert.False(p.Checks.Checklist);
        Assert.Null(m.Models[1].Inputs![0].Name.Value == "x" ? null : "wrong name");
        Assert.Equal(TensorElementType.Float32, m.Models[1].Inputs![0].DType);
        Assert.Contains(ws.Full("data/calib.npy"), m.ReferencedFiles);
        Assert.Equal(9, m.ReferencedFiles.Count());
    }

    [Fact]
    public void LoadReadsTheFileAndResolvesPathsAgainstItsFolder()
    {
        using var ws = new ManifestWorkspace("models/m.onnx", "data/c.npz");
        File.WriteAllText(ws.ManifestPath, """
            schema: 1
            models:
              - name: m
                source: models\m.onnx
                variants:
                  - { name: q, quantize: { mode: dynamic }, fp16: false }
                  - { name: q2, from: q, quantize: { mode: static, calibration: { data: ./data/../data/c.npz } } }
                deploy: { variant: best, mobile: none }
            """);
        var m = ManifestLoader.Load(ws.ManifestPath, ws.Diagnostics, ManifestWorkspace.ToolVersion);
        Assert.Empty(ws.Diagnostics);
        Assert.Equal(ws.Full("models/m.onnx"), m!.Models[0].Source.Path);
        Assert.Equal(ws.Full("data/c.npz"), m.Models[0].Variants[1].Quantize!.Calibration!.Data);
        Assert.Null(m.Models[0].Variants[0].Fp16);
        Assert.Equal("best", m.Models[0].Deploy.Variant.Value);
        Assert.Empty(m.Models[0].Deploy.Mobile);
    }
}
