using ModelBuild.Core.Tests.Pipeline;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Passes;

namespace ModelBuild.Core.Tests.Manifest;

/// <summary><c>quantize: { mode: qat, calibration, finetune, learn_scales }</c>: binding, defaults, misuse, and libtorch.</summary>
public sealed class QatManifestTests
{
    private static ManifestWorkspace Workspace() => new("models/m.onnx", "data/calib.npy", "data/train.npz");

    [Fact]
    public void Qat_binds_calibration_the_finetune_keys_and_learn_scales()
    {
        using var ws = Workspace();
        var m = ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: slim
                    prune: { method: l1-structured, amount: 0.3 }
                  - name: qat
                    from: slim
                    quantize:
                      mode: qat
                      learn_scales: false
                      calibration: { data: data/calib.npy, method: entropy }
                      finetune: { data: data/train.npz, samples: 3000, epochs: 2, batch_size: 32, learning_rate: 0.0001, optimizer: sgd,
                                  schedule: none, distill: 0.5, temperature: 3 }
                  - name: plain
                    quantize: { mode: qat, calibration: { data: data/calib.npy }, finetune: { data: data/train.npz } }
            """);
        Assert.Empty(ws.Diagnostics);
        var q = m!.Models[0].Variants[1].Quantize!;
        Assert.Equal(QuantizeMode.Qat, q.Mode);
        Assert.False(q.LearnScales);
        Assert.Equal(CalibrationMethod.Entropy, q.Calibration!.Method);
        var f = q.Finetune!;
        Assert.Equal((ws.Full("data/train.npz"), 3000, 2, 32, 0.0001, FinetuneOptimizer.Sgd, FinetuneSchedule.None, 0.5, 3.0),
            (f.Data, f.Samples, f.Epochs, f.BatchSize, f.LearningRate, f.Optimizer, f.Schedule, f.Distill, f.Temperature));
        Assert.Equal((14, 21), (f.Location.Line, f.Location.Column));
        Assert.Contains(m.Models[0].Variants[1].ReferencedFiles, r => r.Path == ws.Full("data/train.npz"));

        // Keys left out are null in the spec; QatConfig and FineTuneSettings hold the defaults.
        var plain = m.Models[0].Variants[2].Quantize!;
        Assert.Null(plain.LearnScales);
        Assert.Null(plain.Finetune!.Epochs);
        Assert.True(new QatConfig(new(), new("x")).LearnScales);
    }

    [Fact]
    public void Qat_needs_calibration_and_finetune_and_its_keys_apply_to_qat_only()
    {
        using var ws = Workspace();
        Assert.Null(ws.Parse("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: a
                    quantize: { mode: qat }
                  - name: b
                    quantize: { mode: static, calibration: { data: data/calib.npy }, learn_scales: true, finetune: { data: data/train.npz } }
                  - name: c
                    quantize: { mode: qat, format: qoperator, calibration: { data: data/calib.npy }, finetune: { data: data/train.npz, epochs: 0, optimizer: lbfgs, loss: mse, distill: 0.5 } }
            """));
        Assert.Equal(
            [
                ("MB1005", 7, 19), ("MB1005", 7, 19), // a: no calibration, no finetune
                ("MB1004", 9, 94), ("MB1004", 9, 74), // b: finetune, learn_scales
                ("MB1004", 11, 32), ("MB1004", 11, 132), ("MB1004", 11, 146), ("MB1004", 11, 164), // c: format, epochs, optimizer, distill
            ],
            ws.Found());
        Assert.Contains(ws.Diagnostics, d => d.Message.Contains("'quantize.finetune' applies to quantization-aware training only (mode: qat)"));
        Assert.Contains(ws.Diagnostics, d => d.Message.Contains("'quantize.finetune.distill' needs loss: cross_entropy"));
        Assert.Contains(ws.Diagnostics, d => d.Message.Contains("qat trains and writes QuantizeLinear/DequantizeLinear pairs"));
    }

    [Fact]
    public void Qat_without_libtorch_is_refused_at_the_finetune_key_before_any_work()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: qat
                    quantize:
                      mode: qat
                      calibration: { data: data/test.npz }
                      finetune: { data: data/test.npz }
            """);
        Assert.Null(ws.Build());
        var d = Assert.Single(ws.Diagnostics, d => d.Severity == Severity.Error);
        Assert.Equal(DiagnosticCodes.TorchRuntimeUnavailable, d.Code);
        Assert.Equal((10, 21), (d.Location!.Line, d.Location.Column));
        Assert.Contains("'quantize.finetune' (mode: qat) trains with libtorch", d.Message);
    }
}
