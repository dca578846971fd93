using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using ModelBuild.Reports;
using ModelBuild.Results;

namespace ModelBuild.Core.Tests.Reports;

/// <summary>modelbuild-report.html (well-formed, self-contained, plots carry the numbers) and modelbuild-report.junit.xml.</summary>
public sealed class ReportWriterTests
{
    private static readonly XNamespace H = "http://www.w3.org/1999/xhtml";
    private static readonly XNamespace S = "http://www.w3.org/2000/svg";

    internal static BuildReport Sample()
    {
        var report = new BuildReport { ToolVersion = "0.1.0", Manifests = ["deploy.yaml"], Passed = false };
        var model = new ModelReport
        {
            Name = "fashion", Source = "models/fashion.onnx", SourceKind = "onnx", Inputs = [], Outputs = [], Deployed = "int8",
            Evaluation = new EvaluationReport { Data = "data/t10k-images-idx3-ubyte.gz", Samples = 1000, Metric = "top1", SourceScore = 0.905 },
        };
        var base_ = new ArtifactReport { Name = "base", Path = "models/fashion/model.onnx", Lossless = true, SizeBytes = 1_200_000, Score = 0.905 };
        base_.Latency = new LatencyReport(1, 5, 2, 5.4, 5.88, 2.8, 357.1)
        {
            MinMs = 1, MaxMs = 6, Histogram = LatencyHistogram.From([1, 2, 2, 3, 6], 5),
        };
        base_.Memory = new MemoryReport(100 << 20, 112 << 20, 12 << 20);
        base_.Checks.Add(new CheckReport("accuracy.min", "MB3002", ">=", 0.95, 0.905, false, "error", "deploy.yaml(20,23)", "top1 is 0.905"));
        base_.Checks.Add(new CheckReport("size.max_mb", "MB3005", "<=", 2, 1.14, true, "error", "deploy.yaml(22,20)", "size is 1.14 MB"));
        var int8 = new ArtifactReport { Name = "int8", Path = "models/fashion/int8/model.onnx", From = "base", Passes = ["quantize-static"], SizeBytes = 320_000, Score = 0.899 };
        int8.Latency = new LatencyReport(1, 3, 1, 1.45, 1.49, 1.17, 854.7) { MinMs = 1, MaxMs = 1.5, Histogram = LatencyHistogram.From([1, 1, 1.5], 5) };
        int8.Checks.Add(new CheckReport("accuracy.max_drop", "MB3003", "<=", 0.001, 0.006, false, "warning", "deploy.yaml(20,40)", "top1 dropped by 0.006"));
        model.Artifacts.Add(base_);
        model.Artifacts.Add(int8);
        report.Models.Add(model);
        report.Diagnostics.Add(new DiagnosticReport("MB3002", "error", "model 'fashion', base export: top1 is 0.905", "deploy.yaml(20,23)"));
        report.Diagnostics.Add(new DiagnosticReport("MB3007", "error", "model 'fashion': deploy.variant is 'best' but no artifact passes every check", "deploy.yaml(30,16)"));
        return report;
    }

    internal static XDocument ParseHtml(string html)
    {
        Assert.StartsWith("<!DOCTYPE html>\n", html);
        using var reader = XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader);
    }

    [Fact]
    public void Html_is_well_formed_self_contained_and_plots_every_artifact()
    {
        var html = ReportHtmlWriter.Write(Sample());
        var doc = ParseHtml(html);

        Assert.Empty(doc.Descendants(H + "script"));
        Assert.Empty(doc.Descendants(H + "link"));
        // No URL except the two namespace names.
        Assert.DoesNotContain("https://", html);
        Assert.Equal(new[] { "http://www.w3.org/1999/xhtml", "http://www.w3.org/2000/svg" },
            System.Text.RegularExpressions.Regex.Matches(html, "http://[^\"]*").Select(m => m.Value).Distinct().Order());

        var rows = doc.Descendants(H + "table").Single().Element(H + "tbody")!.Elements(H + "tr").ToList();
        Assert.Equal(2, rows.Count);
        Assert.Contains("0.905", rows[0].Value);
        Assert.Contains("12", rows[0].Elements(H + "td").ElementAt(13).Value); // peak memory (MB)

        var svgs = doc.Descendants(S + "svg").ToList();
        Assert.Equal(3, svgs.Count);
        var points = svgs[0].Descendants(S + "circle").ToList();
        Assert.Equal(new[] { "base", "int8" }, points.Select(p => (string)p.Attribute("data-artifact")!));
        // Bigger file, bigger marker; faster artifact further left; better score higher up.
        double A(XElement e, string n) => double.Parse((string)e.Attribute(n)!, CultureInfo.InvariantCulture);
        Assert.True(A(points[0], "r") > A(points[1], "r"));
        Assert.True(A(points[1], "cx") < A(points[0], "cx"));
        Assert.True(A(points[0], "cy") < A(points[1], "cy"));
        Assert.Contains("0.905", points[0].Element(S + "title")!.Value);

        var bars = svgs[1].Descendants(S + "rect").ToList();
        Assert.Equal(5, bars.Count);
        Assert.Equal("2 runs", bars[1].Element(S + "title")!.Value.Split(": ")[1]);
    }

    [Fact]
    public void Html_is_the_same_in_every_culture()
    {
        var before = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
            var german = ReportHtmlWriter.Write(Sample());
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            Assert.Equal(ReportHtmlWriter.Write(Sample()), german);
            Assert.Contains("0.905", german);
        }
        finally
        {
            CultureInfo.CurrentCulture = before;
        }
    }

    [Fact]
    public void JUnit_counts_failures_per_model_and_keeps_message_and_location()
    {
        var xml = ReportJUnitWriter.Write(Sample());
        var doc = XDocument.Parse(xml);
        var root = doc.Root!;
        Assert.Equal("testsuites", root.Name.LocalName);

        var suites = root.Elements("testsuite").ToList();
        Assert.Equal(new[] { "fashion", "modelbuild" }, suites.Select(s => (string)s.Attribute("name")!));
        var fashion = suites[0];
        Assert.Equal(3, (int)fashion.Attribute("tests")!);
        // The warning-severity failure passes with a note; only the error-severity one fails.
        Assert.Equal(1, (int)fashion.Attribute("failures")!);
        var failed = fashion.Elements("testcase").Single(c => c.Element("failure") is not null);
        Assert.Equal("base: accuracy.min", (string)failed.Attribute("name")!);
        Assert.Equal("top1 is 0.905", (string)failed.Element("failure")!.Attribute("message")!);
        Assert.Contains("deploy.yaml(20,23)", failed.Element("failure")!.Value);
        Assert.Contains("warning", fashion.Elements("testcase").Single(c => ((string)c.Attribute("name")!).StartsWith("int8")).Element("system-out")!.Value);

        // MB3007 is not a check of one artifact: it gets its own failing case.
        Assert.Equal("MB3007", (string)suites[1].Element("testcase")!.Attribute("name")!);
        Assert.Equal(4, (int)root.Attribute("tests")!);
        Assert.Equal(2, (int)root.Attribute("failures")!);
    }

    [Fact]
    public void Histogram_bins_stay_fine_grained_and_the_last_bin_takes_the_hiccups()
    {
        // 100 runs at 1..2 ms and three 50 ms hiccups: the bins end near 1.5 + 3 x 0.45 ms, not at 50.
        var samples = Enumerable.Range(0, 100).Select(i => 1 + i / 100.0).Concat([50, 50, 50]).ToList();
        var h = LatencyHistogram.From(samples, 10);
        Assert.Equal(1.0, h.StartMs);
        Assert.InRange(h.StartMs + 10 * h.BinWidthMs, 2.5, 3.2);
        Assert.Equal(samples.Count, h.Counts.Sum());
        Assert.Equal(3, h.Counts[^1]);
        Assert.True(h.Counts.Take(4).All(c => c >= 5));
        Assert.Equal(new[] { 3 }, LatencyHistogram.From([2.0, 2.0, 2.0]).Counts);
    }
}
