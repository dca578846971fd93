using ModelBuild.Data;
using ModelBuild.Diagnostics;

namespace ModelBuild.Core.Tests.Pipeline;

/// <summary>What the pipeline makes of evaluation data that cannot serve the configured checks, on the sample's real CNN.</summary>
public sealed class EvaluationDataTests
{
    [Fact]
    public void An_accuracy_check_on_data_without_labels_is_an_error_at_evaluate_data_not_a_silent_pass()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                evaluate:
                  data: data/nolabels.npz
                  metric: top5
                checks:
                  accuracy: { min: 0.5 }
            """);
        var test = NpzReader.ReadAll(Path.Combine(ws.Root, "data", "test.npz"));
        NpzWriter.Write(Path.Combine(ws.Root, "data", "nolabels.npz"), test.Where(kv => kv.Key != "labels"));

        var report = ws.Build();

        Assert.Null(report);
        var error = Assert.Single(ws.Diagnostics);
        Assert.Equal(DiagnosticCodes.DataMismatch, error.Code);
        Assert.Equal(ExitCode.BadInput, ws.Diagnostics.ExitCode);
        var (line, column) = ws.Find("data/nolabels.npz");
        Assert.Equal(new SourceLocation(ws.ManifestPath, line, column), error.Location);
        Assert.Contains("no labels", error.Message);
    }
}
