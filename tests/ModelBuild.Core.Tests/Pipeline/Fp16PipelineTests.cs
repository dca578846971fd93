using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;

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

    [Fact]
    public void Fp16_chained_after_quantization_keeps_the_quantizers_in_float32_and_runs()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: qd
                    quantize: { mode: dynamic, latency_aware: false }
                  - name: hd
                    from: qd
                    fp16: true
                  - name: qs
                    quantize:
                      mode: static
                      latency_aware: false
                      calibration: { data: data/test.npz, samples: 64 }
                  - name: hs
                    from: qs
                    fp16: { keep_io_types: false }
                evaluate:
                  data: data/test.npz
                  metric: top1
            """);

        var report = ws.Build();

        Assert.DoesNotContain(ws.Diagnostics, d => d.Severity == Severity.Error);
        var artifacts = report!.Models[0].Artifacts.ToDictionary(a => a.Name);
        foreach (var (half, quantized) in new[] { ("hd", "qd"), ("hs", "qs") })
        {
            // Adding fp16 rounding on top of int8 moves top-1 by a few samples at most, not to chance (0.1).
            Assert.InRange(artifacts[half].Score!.Value, artifacts[quantized].Score!.Value - 0.02, artifacts[quantized].Score!.Value + 0.02);
            var model = OnnxModelFile.Load(ws.Output($"models/fashion/{half}/model.onnx"), new SourceLocation("t"));
            // Converted to float16 where it can be (dequantized values are cast down for the ops that read them) ...
            Assert.Contains(model.Graph.Node, n => n.OpType == "Cast" && n.Attribute.Single(a => a.Name == "to").I == (long)global::Onnx.TensorProto.Types.DataType.Float16);
            // ... while every quantization scale stays float32.
            var quantizers = model.Graph.Node.Where(n => n.OpType is "QuantizeLinear" or "DequantizeLinear").ToList();
            Assert.Equal(half == "hs", quantizers.Count > 0);
            var scales = quantizers.Select(n => n.Input[1]).ToHashSet();
            Assert.All(model.Graph.Initializer.Where(t => scales.Contains(t.Name)), t => Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Float, t.DataType));
        }
        Assert.Contains(OnnxModelFile.Load(ws.Output("models/fashion/hd/model.onnx"), new SourceLocation("t")).Graph.Node, n => n.OpType == "DynamicQuantizeLinear");
    }

    [Fact]
    public void An_artifact_onnx_runtime_refuses_is_reported_at_the_variant_that_made_it()
    {
        // Range has no float16 form in the ONNX schema (hence on the default block list); with an empty block list
        // the fp16 artifact is one ONNX Runtime refuses to load.
        const int Float = (int)global::Onnx.TensorProto.Types.DataType.Float;
        var model = Passes.PassTestKit.NewModel();
        model.Graph.Input.Add(Passes.PassTestKit.Value("x", Float, -1, 4));
        model.Graph.Output.Add(Passes.PassTestKit.Value("y", Float, -1, 4));
        foreach (var (name, value) in new[] { ("start", 0f), ("limit", 4f), ("delta", 1f) })
            model.Graph.Initializer.Add(TensorData.FromFloats(name, [], [value]));
        model.Graph.Node.Add(Passes.PassTestKit.Node("Range", ["start", "limit", "delta"], ["r"]));
        model.Graph.Node.Add(Passes.PassTestKit.Node("Add", ["x", "r"], ["y"]));
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: ramp
                source: models/ramp.onnx
                variants:
                  - name: half
                    fp16: { block_ops: [] }
            """);
        Passes.PassTestKit.Save(model, Path.Combine(ws.Root, "models"), "ramp.onnx");

        Assert.Null(ws.Build());

        var error = Assert.Single(ws.Diagnostics);
        // The source loaded; the fp16 pass made what ONNX Runtime refuses: ModelBuild's fault (exit 3), naming the pass.
        Assert.Equal(DiagnosticCodes.PassProducedInvalidModel, error.Code);
        Assert.Contains("fp16", error.Message);
        Assert.Contains("report", error.Message);
        var (line, column) = ws.Find("half");
        Assert.Equal(new SourceLocation(ws.ManifestPath, line, column), error.Location);
    }
}
