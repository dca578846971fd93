using ModelBuild.Core.Tests.Manifest;
using ModelBuild.Core.Tests.Pipeline;

namespace ModelBuild.Core.Tests.Passes;

/// <summary><c>quantize.ops</c>: which op types a variant quantizes, and dynamic's default that leaves Conv float.</summary>
public sealed class QuantizeOpsTests
{
    [Fact]
    public void Dynamic_leaves_conv_float_unless_the_variant_lists_it()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: int8
                    quantize: { mode: dynamic, latency_aware: false, per_channel: true }
                  - name: int8-conv
                    quantize: { mode: dynamic, latency_aware: false, per_channel: true, ops: [Conv, Gemm] }
                evaluate: { data: data/test.npz, metric: top1 }
                checks:
                  accuracy: { max_drop: 0.01 }
                deploy: { variant: int8 }
            """);

        var report = ws.Build();

        Assert.NotNull(report);
        Assert.True(report!.Passed);
        var defaults = PassTestKit.OpCounts(ws.Output("models/fashion/int8/model.onnx"));
        var withConv = PassTestKit.OpCounts(ws.Output("models/fashion/int8-conv/model.onnx"));
        Assert.Equal(2, defaults.GetValueOrDefault("Conv"));
        Assert.Equal(0, defaults.GetValueOrDefault("ConvInteger"));
        Assert.Equal(2, defaults.GetValueOrDefault("MatMulInteger"));
        Assert.Equal(0, withConv.GetValueOrDefault("Conv"));
        Assert.Equal(2, withConv.GetValueOrDefault("ConvInteger"));
        Assert.Equal(2, withConv.GetValueOrDefault("MatMulInteger"));
        // Both still classify: top-1 within the check's point of fp32.
        Assert.All(report.Models[0].Artifacts, a => Assert.InRange(a.ScoreDrop!.Value, -0.01, 0.01));
    }

    [Fact]
    public void An_op_the_mode_cannot_quantize_is_refused_at_its_line()
    {
        using var ws = new ManifestWorkspace("models/m.onnx");
        var d = ws.ExpectSingle("""
            schema: 1
            models:
              - name: m
                source: models/m.onnx
                variants:
                  - name: q
                    quantize: { mode: dynamic, ops: [MatMul, Softmax] }
            """, "MB1004", 7, 50);
        Assert.Contains("'quantize.ops' lists 'Softmax', which dynamic quantization does not quantize; it quantizes: Attention, Conv, Gather, Gemm, LSTM, MatMul", d.Message);
    }
}
