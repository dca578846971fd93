using System.Xml.Linq;
using ModelBuild.Core.Tests.Data;
using ModelBuild.Core.Tests.Reports;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.IO;
using ModelBuild.Reports;

namespace ModelBuild.Core.Tests.Pipeline;

/// <summary>The fashion model evaluated from gzipped MNIST idx files made from the sample's test.npz; every report written.</summary>
public sealed class IdxPipelineTests
{
    [Fact]
    public void Idx_evaluation_matches_the_npz_score_and_writes_html_and_junit_reports()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                evaluate:
                  data: { idx: { images: data/t10k-images-idx3-ubyte.gz, labels: data/t10k-labels-idx1-ubyte.gz }, mean: 0.2860, std: 0.3530 }
                  samples: 600
                checks:
                  accuracy: { min: 0.99 }
                  size: { max_mb: 2 }
            """);
        // test.npz holds (pixels / 255 - 0.2860) / 0.3530 as float32 (testassets/training/train_fashion.py): undo it.
        var npz = NpzReader.ReadAll(Path.Combine(ws.Root, "data", "test.npz"));
        var pixels = npz["input"].As<float>().Select(v => (byte)Math.Round((v * 0.3530 + 0.2860) * 255)).ToArray();
        var labels = npz["labels"].ToDoubles().Select(v => (byte)v).ToArray();
        IdxFiles.Write(Path.Combine(ws.Root, "data", "t10k-images-idx3-ubyte.gz"), pixels, gzip: true, 1000, 28, 28);
        IdxFiles.Write(Path.Combine(ws.Root, "data", "t10k-labels-idx1-ubyte.gz"), labels, gzip: true, 1000);

        var report = ws.Build();

        Assert.NotNull(report);
        var failure = Assert.Single(ws.Diagnostics);
        Assert.Equal("MB3002", failure.Code);
        Assert.Equal(ws.Find("min: 0.99").Line, failure.Location!.Line);
        var model = Assert.Single(report!.Models);
        Assert.Equal(600, model.Evaluation!.Samples);
        Assert.Equal("data/t10k-images-idx3-ubyte.gz, data/t10k-labels-idx1-ubyte.gz", model.Evaluation.Data);
        // The same images through the npz path score the same: recompute on the first 600.
        using var runner = new ModelBuild.Execution.ModelRunner(ws.Output("models/fashion/model.onnx"), new SourceLocation("t"));
        var logits = runner.Run(new Dictionary<string, NdArray> { ["input"] = npz["input"].Slice(0, 600) })["logits"];
        var expected = ModelBuild.Evaluation.Metrics.Top1Accuracy(logits, npz["labels"].Slice(0, 600));
        var artifact = Assert.Single(model.Artifacts);
        Assert.Equal(expected, artifact.Score!.Value, 6);
        Assert.Equal(0, artifact.ParityMaxAbs);

        // Latency distribution and memory are in the JSON report.
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(ws.Output(OutputLayout.JsonReport)));
        var written = json.RootElement.GetProperty("models")[0].GetProperty("artifacts")[0];
        var latency = written.GetProperty("latency");
        Assert.Equal(latency.GetProperty("iterations").GetInt32(),
            latency.GetProperty("histogram").GetProperty("counts").EnumerateArray().Sum(c => c.GetInt32()));
        Assert.InRange(latency.GetProperty("p50_ms").GetDouble(), latency.GetProperty("min_ms").GetDouble(), latency.GetProperty("max_ms").GetDouble());
        var memory = written.GetProperty("memory");
        Assert.True(memory.GetProperty("rss_peak_bytes").GetInt64() >= memory.GetProperty("rss_before_bytes").GetInt64());
        Assert.True(memory.GetProperty("peak_growth_bytes").GetInt64() >= 0);

        var html = ReportWriterTests.ParseHtml(File.ReadAllText(ws.Output(OutputLayout.HtmlReport)));
        Assert.Single(html.Descendants(XName.Get("circle", "http://www.w3.org/2000/svg")));
        var junit = XDocument.Load(ws.Output(OutputLayout.JUnitReport)).Root!;
        Assert.Equal(1, (int)junit.Attribute("failures")!);
        Assert.Contains(OutputLayout.HtmlReport, File.ReadAllLines(ws.Output(".modelbuild/outputs.txt")));
    }
}
