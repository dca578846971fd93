using ModelBuild.Core.Tests.Pipeline;
using ModelBuild.Diagnostics;
using ModelBuild.Reports;

namespace ModelBuild.Core.Tests.Passes.Pruning;

/// <summary>Pruned variants through the whole pipeline: the report, chains into int8, and refusals.</summary>
public sealed class PrunePipelineTests
{
    [Fact]
    public void A_pruned_variant_chains_into_static_int8_and_reports_layers_and_steps()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: slim
                    prune: { method: l1-structured, amount: [0.1, 0.3] }
                  - name: slim-int8
                    from: slim
                    quantize: { mode: static, latency_aware: false, per_channel: true, calibration: { data: data/test.npz, samples: 64 } }
                evaluate: { data: data/test.npz, metric: top1, samples: 300 }
                checks:
                  accuracy: { max_drop: 0.3 }
                deploy: { variant: slim-int8 }
            """);
        var report = ws.Build();
        Assert.NotNull(report);
        Assert.DoesNotContain(ws.Diagnostics, d => d.Severity == Severity.Error);
        var model = Assert.Single(report!.Models);
        var slim = model.Artifacts.Single(a => a.Name == "slim");
        var int8 = model.Artifacts.Single(a => a.Name == "slim-int8");
        var baseline = model.Artifacts.Single(a => a.Name == "base");

        var pruning = slim.Pruning!;
        Assert.Equal("l1-structured", pruning.Method);
        Assert.Equal(3, pruning.Steps.Count); // the input, 0.1, 0.3
        Assert.Equal([16, 16, 48, 10], pruning.Layers.Select(l => l.Kept!.Value)); // channel blocks of 16 by default
        Assert.True(int8.SizeBytes < slim.SizeBytes && slim.SizeBytes < baseline.SizeBytes);
        Assert.Equal(["quantize:static:minmax:qdq"], int8.Passes);
        Assert.Null(int8.Pruning);
        Assert.True(int8.Score > 0.7, $"int8 of pruned: {int8.Score}");
        Assert.Contains("\"pruning\"", File.ReadAllText(ws.Output("modelbuild-report.json")));
    }

    [Fact]
    public void Fine_tuning_without_libtorch_is_refused_before_any_work()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: slim
                    prune: { method: l1-structured, amount: 0.3, finetune: { data: data/test.npz } }
            """);
        Assert.Null(ws.Build());
        var d = Assert.Single(ws.Diagnostics, d => d.Severity == Severity.Error);
        Assert.Equal(DiagnosticCodes.TorchRuntimeUnavailable, d.Code);
    }
}
