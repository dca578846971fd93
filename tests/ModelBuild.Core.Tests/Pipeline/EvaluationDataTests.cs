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

    private static PipelineWorkspace Workspace(string data) => new($"""
        schema: 1
        models:
          - name: fashion
            source: models/fashion.onnx
            evaluate:
              data: {data}
              metric: top1
        """);

    private static void AssertAtData(PipelineWorkspace ws, string code, string dataText, string named)
    {
        var error = Assert.Single(ws.Diagnostics);
        Assert.Equal(code, error.Code);
        var (line, column) = ws.Find(dataText);
        Assert.Equal(new SourceLocation(ws.ManifestPath, line, column), error.Location);
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void A_truncated_data_file_is_reported_at_evaluate_data_naming_the_file()
    {
        using var ws = Workspace("data/trunc.npz");
        var bytes = File.ReadAllBytes(Path.Combine(ws.Root, "data", "test.npz"));
        File.WriteAllBytes(Path.Combine(ws.Root, "data", "trunc.npz"), bytes[..(bytes.Length / 2)]);

        Assert.Null(ws.Build());

        AssertAtData(ws, DiagnosticCodes.DataUnreadable, "data/trunc.npz", "trunc.npz");
    }

    [Fact]
    public void Labels_outside_the_classes_are_reported_at_evaluate_data_not_at_source()
    {
        using var ws = Workspace("data/badlabels.npz");
        var test = NpzReader.ReadAll(Path.Combine(ws.Root, "data", "test.npz"));
        var labels = test["labels"].As<long>().ToArray();
        labels[3] = 99; // the model has 10 classes
        NpzWriter.Write(Path.Combine(ws.Root, "data", "badlabels.npz"),
            [KeyValuePair.Create("input", test["input"]), KeyValuePair.Create("labels", NdArray.Of(labels, labels.Length))]);

        Assert.Null(ws.Build());

        AssertAtData(ws, DiagnosticCodes.DataMismatch, "data/badlabels.npz", "top1");
    }

    [Fact]
    public void Float_labels_in_a_separate_file_name_that_file()
    {
        using var ws = Workspace("{ inputs: data/x.npy, labels: data/yf.npy }");
        var test = NpzReader.ReadAll(Path.Combine(ws.Root, "data", "test.npz"));
        NpyWriter.Write(Path.Combine(ws.Root, "data", "x.npy"), test["input"]);
        var labels = test["labels"].As<long>().Select(l => (float)l).ToArray();
        NpyWriter.Write(Path.Combine(ws.Root, "data", "yf.npy"), NdArray.Of(labels, labels.Length));

        Assert.Null(ws.Build());

        AssertAtData(ws, DiagnosticCodes.DataMismatch, "{ inputs:", "yf.npy");
        Assert.DoesNotContain("x.npy", ws.Diagnostics.Single().Message);
    }

    [Fact]
    public void A_truncated_calibration_file_is_reported_at_calibration()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                variants:
                  - name: int8
                    quantize:
                      mode: static
                      calibration: { data: data/trunc.npz }
            """);
        var bytes = File.ReadAllBytes(Path.Combine(ws.Root, "data", "test.npz"));
        File.WriteAllBytes(Path.Combine(ws.Root, "data", "trunc.npz"), bytes[..(bytes.Length / 2)]);

        Assert.Null(ws.Build());

        var error = Assert.Single(ws.Diagnostics);
        Assert.Equal(DiagnosticCodes.DataUnreadable, error.Code);
        Assert.Equal(ws.Find("calibration:").Line, error.Location!.Line);
        Assert.Equal(ws.ManifestPath, error.Location.File);
        Assert.Contains("trunc.npz", error.Message);
    }
}
