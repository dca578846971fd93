using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Runtime;

namespace ModelBuild.Core.Tests.Pipeline;

/// <summary>fp16 variants through the whole pipeline, on the sample's real Fashion-MNIST CNN run by ONNX Runtime.</summary>
public sealed class Fp16PipelineTests
{
    [Fact]
    public void Fp16_without_keep_io_types_is_evaluated_on_float16_inputs_and_deployed_as_float16()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: half
                    fp16: { keep_io_types: false }
                evaluate:
                  data: data/test.npz
                  metric: top1
                checks:
                  accuracy: { max_drop: 0.01 }
                deploy:
                  variant: half
                  triton: { max_batch_size: 8 }
            """);

        var report = ws.Build();

        Assert.Empty(ws.Diagnostics);
        Assert.True(report!.Passed);
        var half = report.Models[0].Artifacts.Single(a => a.Name == "half");
        // float16 weights and activations move top-1 on these 1000 samples by a few samples at most (source: 0.905).
        Assert.InRange(half.Score!.Value, 0.895, 0.915);
        Assert.InRange(half.Parity["logits"].MaxAbs, 1e-6, 0.1);
        var deployed = ModelInterfaceReader.Read(OnnxModelFile.Load(ws.Output("deploy/triton/fashion/1/model.onnx"), new SourceLocation("t")), new SourceLocation("t"));
        Assert.Equal(TensorElementType.Float16, deployed.Inputs[0].ElementType);
        Assert.Equal(TensorElementType.Float16, deployed.Outputs[0].ElementType);
        // Triton refuses a config whose types differ from the model's.
        var config = File.ReadAllText(ws.Output("deploy/triton/fashion/config.pbtxt"));
        Assert.Contains("TYPE_FP16", config);
        Assert.DoesNotContain("TYPE_FP32", config);
    }

    [Fact]
    public void Fp16_without_keep_io_types_builds_without_evaluation_data()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: half
                    fp16: { keep_io_types: false }
                checks:
                  parity: { max_abs: 0.05, severity: warning }
            """);

        var report = ws.Build();

        Assert.NotNull(report);
        Assert.DoesNotContain(ws.Diagnostics, d => d.Severity == Severity.Error);
        var half = report!.Models[0].Artifacts.Single(a => a.Name == "half");
        Assert.True(half.Latency!.P50Ms > 0);
        // Synthetic inputs, narrowed to float16 for this artifact: outputs close to the float32 source's, not garbage.
        Assert.InRange(half.Parity["logits"].Cosine, 0.999, 1.0);
    }
}
