using System.Globalization;
using System.Xml.Linq;
using ModelBuild.Results;

namespace ModelBuild.Reports;

/// <summary>
/// modelbuild-report.html: one self-contained page (inline CSS, inline SVG drawn here; no scripts, no external
/// URLs). Per model: the variants table, accuracy vs p50 latency (marker area by file size), and each artifact's
/// latency distribution. Built as XML so it is always well-formed; numbers use the invariant culture.
/// </summary>
public static class ReportHtmlWriter
{
    private static readonly XNamespace H = "http://www.w3.org/1999/xhtml";
    private static readonly XNamespace S = "http://www.w3.org/2000/svg";
    private static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
        "#7f7f7f", "#bcbd22", "#17becf"];

    private const string Css = """
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#222;max-width:1280px}
        h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:1px solid #ddd}h3{font-size:1.05rem;margin-top:1.5rem}
        .pass{color:#1a7f37}.fail{color:#cf222e}.warn{color:#9a6700}
        table{border-collapse:collapse;font-size:.9rem}td{white-space:nowrap;vertical-align:top}th,td{border:1px solid #ddd;padding:.3rem .5rem}
        th{background:#f6f8fa;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
        ul.checks{margin:0;padding-left:1rem}svg{background:#fff;border:1px solid #eee;margin:.3rem}
        svg text{font-size:11px;fill:#333}.dist{display:flex;flex-wrap:wrap}summary{cursor:pointer}.muted{color:#666}
        """;

    public static string Write(BuildReport report)
    {
        var body = new XElement(H + "body",
            new XElement(H + "h1", "ModelBuild report"),
            new XElement(H + "p", new XAttribute("class", report.Passed ? "pass" : "fail"),
                report.Passed ? "All checks passed" : "Checks failed",
                $" · ModelBuild {report.ToolVersion} · {string.Join(", ", report.Manifests)}"));
        foreach (var model in report.Models) body.Add(Model(model));
        if (report.Diagnostics.Count > 0)
            body.Add(new XElement(H + "h2", "Diagnostics"),
                new XElement(H + "ul", report.Diagnostics.Select(d => new XElement(H + "li",
                    new XAttribute("class", d.Severity == "error" ? "fail" : "warn"),
                    $"{(d.Location is null ? "" : d.Location + ": ")}{d.Severity} {d.Code}: {d.Message}"))));

        var html = new XElement(H + "html", new XAttribute("lang", "en"),
            new XElement(H + "head",
                new XElement(H + "meta", new XAttribute("charset", "utf-8")),
                new XElement(H + "title", "ModelBuild report"),
                new XElement(H + "style", Css.Replace("\r\n", "\n"))),
            body);
        return "<!DOCTYPE html>\n" + html.ToString(SaveOptions.None).Replace("\r\n", "\n") + "\n";
    }

    private static XElement Model(ModelReport model)
    {
        var section = new XElement(H + "section", new XAttribute("id", "model-" + model.Name),
            new XElement(H + "h2", model.Name));
        var about = $"Source {model.Source} ({model.SourceKind}); deployed: {model.Deployed}.";
        if (model.Evaluation is { } e)
            about += $" Evaluated on {e.Data}, {e.Samples} samples, metric {e.Metric}" +
                (e.SourceScore is { } s ? $" (source model: {F(s, "0.####")})" : "") + ".";
        section.Add(new XElement(H + "p", about));
        section.Add(Table(model));
        section.Add(new XElement(H + "h3", "Accuracy vs p50 latency"),
            new XElement(H + "p", new XAttribute("class", "muted"), "Marker area grows with the file size; the deployed artifact has a black ring."),
            Scatter(model));
        section.Add(new XElement(H + "h3", "Latency distribution"),
            new XElement(H + "div", new XAttribute("class", "dist"),
                model.Artifacts.Select((a, i) => Histogram(a, i))));
        return section;
    }

    private static XElement Table(ModelReport model)
    {
        string[] heads = ["artifact", "from", "passes", "size (MB)", "size × base", "parity max abs", "score", "drop", "p50 ms", "p50 × base",
            "p95 ms", "p99 ms", "throughput/s", "peak memory (MB)", "checks"];
        var table = new XElement(H + "table", new XAttribute("class", "variants"),
            new XElement(H + "thead", new XElement(H + "tr", heads.Select(h => new XElement(H + "th", h)))));
        var rows = new XElement(H + "tbody");
        foreach (var a in model.Artifacts)
        {
            var failed = a.Checks.Count(c => !c.Passed);
            var list = new XElement(H + "ul", new XAttribute("class", "checks"),
                a.Checks.Select(c => new XElement(H + "li",
                    new XAttribute("class", c.Passed ? "pass" : c.Severity == "warning" ? "warn" : "fail"),
                    $"{(c.Passed ? "pass" : c.Severity == "warning" ? "warning" : "FAIL")} {c.Check} {c.Comparison} " +
                    $"{F(c.Threshold)} (measured {F(c.Measured)})")));
            rows.Add(new XElement(H + "tr",
                new XElement(H + "td", a.Name + (a.Name == model.Deployed ? " (deployed)" : "")),
                new XElement(H + "td", a.From ?? "—"),
                new XElement(H + "td", a.Passes.Count == 0 ? "—" : string.Join(", ", a.Passes)),
                Num(a.SizeMb, "0.###"), Num(a.VsBase?.SizeRatio, "0.###"), Num(a.ParityMaxAbs), Num(a.Score, "0.####"), Num(a.ScoreDrop, "0.####"),
                Num(a.Latency?.P50Ms, "0.###"), Num(a.VsBase?.P50Ratio, "0.##"), Num(a.Latency?.P95Ms, "0.###"), Num(a.Latency?.P99Ms, "0.###"),
                Num(a.Latency?.ThroughputPerSecond, "0.#"), Num(a.Memory is { } m ? m.PeakGrowthBytes / (1024.0 * 1024.0) : null, "0.#"),
                new XElement(H + "td", a.Checks.Count == 0 ? "—" : new XElement(H + "details",
                    failed > 0 ? new XAttribute("open", "open") : null,
                    new XElement(H + "summary", new XAttribute("class", a.Passed ? failed > 0 ? "warn" : "pass" : "fail"),
                        failed == 0 ? $"{a.Checks.Count} passed" : $"{failed} of {a.Checks.Count} failed"),
                    list))));
        }
        table.Add(rows);
        return table;
    }

    private static XElement Scatter(ModelReport model)
    {
        const double W = 680, Ht = 340, L = 64, R = 12, T = 20, B = 46;
        var points = model.Artifacts.Select((a, i) => (a, i)).Where(p => p.a.Score is not null && p.a.Latency is not null).ToList();
        var svg = Svg(W, Ht, $"Accuracy vs p50 latency for model {model.Name}");
        if (points.Count == 0)
        {
            svg.Add(Text(W / 2, Ht / 2, "no artifact has both a score and a latency", "middle"));
            return svg;
        }
        var (x0, x1) = Domain(points.Select(p => p.a.Latency!.P50Ms), zeroBased: true);
        var (y0, y1) = Domain(points.Select(p => p.a.Score!.Value), zeroBased: false);
        const double legend = 130;
        double X(double v) => L + (v - x0) / (x1 - x0) * (W - L - R - legend);
        double Y(double v) => Ht - B - (v - y0) / (y1 - y0) * (Ht - T - B);
        Axes(svg, W - legend, Ht, L, R, T, B, x0, x1, y0, y1, X, Y, "p50 latency (ms)", model.Evaluation?.Metric ?? "score");
        var maxSize = Math.Max(1, points.Max(p => p.a.SizeBytes));
        foreach (var (a, i) in points)
        {
            var r = 4 + 12 * Math.Sqrt((double)a.SizeBytes / maxSize);
            var (cx, cy) = (X(a.Latency!.P50Ms), Y(a.Score!.Value));
            svg.Add(new XElement(S + "circle",
                new XAttribute("class", "point"), new XAttribute("data-artifact", a.Name),
                new XAttribute("cx", F(cx, "0.##")), new XAttribute("cy", F(cy, "0.##")), new XAttribute("r", F(r, "0.##")),
                new XAttribute("fill", Palette[i % Palette.Length]), new XAttribute("fill-opacity", "0.7"),
                new XAttribute("stroke", a.Name == model.Deployed ? "#000" : "none"), new XAttribute("stroke-width", "2"),
                new XElement(S + "title", $"{a.Name}: score {F(a.Score!.Value, "0.####")}, " +
                    $"p50 {F(a.Latency.P50Ms, "0.###")} ms, {F(a.SizeMb, "0.###")} MB")));
        }
        // A legend rather than labels at the points: artifacts with the same score and speed sit on top of each other.
        for (var k = 0; k < points.Count; k++)
        {
            var (a, i) = points[k];
            var y = T + 4 + k * 16;
            svg.Add(new XElement(S + "rect", new XAttribute("x", F(W - R - 118, "0.##")), new XAttribute("y", F(y, "0.##")),
                new XAttribute("width", "10"), new XAttribute("height", "10"), new XAttribute("fill", Palette[i % Palette.Length])));
            svg.Add(Text(W - R - 104, y + 9, a.Name + (a.Name == model.Deployed ? " (deployed)" : ""), "start"));
        }
        return svg;
    }

    private static XElement Histogram(ArtifactReport a, int index)
    {
        const double W = 300, Ht = 150, L = 36, R = 12, T = 22, B = 34;
        var svg = Svg(W, Ht, $"Latency distribution of {a.Name}");
        svg.Add(Text(L, 14, $"{a.Name}" + (a.Latency is { } l ? $" (batch {l.Batch}, {l.Iterations} runs)" : ""), "start"));
        if (a.Latency?.Histogram is not { Counts.Count: > 0 } h)
        {
            svg.Add(Text(W / 2, Ht / 2, "no latency measured", "middle"));
            return svg;
        }
        var lat = a.Latency!;
        var (x0, x1) = h.BinWidthMs > 0 ? (h.StartMs, h.StartMs + h.BinWidthMs * h.Counts.Count) : (h.StartMs - 0.5, h.StartMs + 0.5);
        var maxCount = Math.Max(1, h.Counts.Max());
        double X(double v) => L + (v - x0) / (x1 - x0) * (W - L - R);
        double Y(double v) => Ht - B - v / maxCount * (Ht - T - B);
        Axes(svg, W, Ht, L, R, T, B, x0, x1, 0, maxCount, X, Y, "ms", "runs", ticks: 3);
        var barWidth = (W - L - R) / h.Counts.Count;
        for (var i = 0; i < h.Counts.Count; i++)
            svg.Add(new XElement(S + "rect", new XAttribute("class", "bar"),
                new XAttribute("x", F(L + i * barWidth, "0.##")), new XAttribute("y", F(Y(h.Counts[i]), "0.##")),
                new XAttribute("width", F(Math.Max(0.5, barWidth - 1), "0.##")), new XAttribute("height", F(Ht - B - Y(h.Counts[i]), "0.##")),
                new XAttribute("fill", Palette[index % Palette.Length]),
                new XElement(S + "title", $"{F(h.StartMs + i * h.BinWidthMs, "0.###")}–{F(h.StartMs + (i + 1) * h.BinWidthMs, "0.###")} ms: " +
                    $"{h.Counts[i]} runs")));
        foreach (var (value, label, dy) in new[] { (lat.P50Ms, "p50", 10), (lat.P95Ms, "p95", 22) })
        {
            var x = F(X(Math.Min(value, x1)), "0.##");
            svg.Add(new XElement(S + "line", new XAttribute("x1", x), new XAttribute("x2", x), new XAttribute("y1", F(T, "0.##")),
                new XAttribute("y2", F(Ht - B, "0.##")),
                new XAttribute("stroke", "#000"), new XAttribute("stroke-dasharray", "3,2")));
            svg.Add(Text(X(Math.Min(value, x1)) + 2, T + dy, $"{label} {F(value, "0.###")}", "start"));
        }
        return svg;
    }

    private static void Axes(XElement svg, double w, double h, double l, double r, double t, double b, double x0, double x1, double y0, double y1,
        Func<double, double> x, Func<double, double> y, string xLabel, string yLabel, int ticks = 5)
    {
        svg.Add(new XElement(S + "line", new XAttribute("x1", F(l, "0.##")), new XAttribute("y1", F(h - b, "0.##")),
            new XAttribute("x2", F(w - r, "0.##")), new XAttribute("y2", F(h - b, "0.##")), new XAttribute("stroke", "#888")));
        svg.Add(new XElement(S + "line", new XAttribute("x1", F(l, "0.##")), new XAttribute("y1", F(t, "0.##")), new XAttribute("x2", F(l, "0.##")),
            new XAttribute("y2", F(h - b, "0.##")), new XAttribute("stroke", "#888")));
        for (var i = 0; i <= ticks; i++)
        {
            var xv = x0 + (x1 - x0) * i / ticks;
            var yv = y0 + (y1 - y0) * i / ticks;
            svg.Add(Text(x(xv), h - b + 14, Tick(xv, x1 - x0), "middle"));
            svg.Add(Text(l - 4, y(yv) + 4, Tick(yv, y1 - y0), "end"));
        }
        svg.Add(Text(l + (w - l - r) / 2, h - 6, xLabel, "middle"));
        svg.Add(new XElement(S + "text", new XAttribute("transform", $"translate(12,{F(t + (h - t - b) / 2, "0.##")}) rotate(-90)"),
            new XAttribute("text-anchor", "middle"), yLabel));
    }

    /// <summary>A padded range; a single value gets a small window around it so the point sits in the middle.</summary>
    private static (double, double) Domain(IEnumerable<double> values, bool zeroBased)
    {
        var list = values.ToList();
        var (lo, hi) = (list.Min(), list.Max());
        if (zeroBased) lo = 0;
        var span = hi - lo;
        if (span <= 0) span = Math.Max(Math.Abs(hi) * 0.1, 0.01);
        return zeroBased ? (0, hi + span * 0.15) : (lo - span * 0.15, hi + span * 0.15);
    }

    private static string Tick(double v, double span) => F(v, span >= 10 ? "0" : span >= 1 ? "0.#" : span >= 0.1 ? "0.##" : "0.####");

    private static XElement Svg(double w, double h, string label) =>
        new(S + "svg", new XAttribute("width", F(w, "0")), new XAttribute("height", F(h, "0")),
            new XAttribute("viewBox", $"0 0 {F(w, "0")} {F(h, "0")}"), new XAttribute("role", "img"), new XAttribute("aria-label", label));

    private static XElement Text(double x, double y, string text, string anchor) =>
        new(S + "text", new XAttribute("x", F(x, "0.##")), new XAttribute("y", F(y, "0.##")), new XAttribute("text-anchor", anchor), text);

    private static XElement Num(double? v, string? format = null) =>
        new(H + "td", new XAttribute("class", "n"), v is null ? "—" : format is null ? F(v) : F(v.Value, format));

    private static string F(double? v) => v switch
    {
        null => "—",
        var d when Math.Abs(d.Value) is > 0 and < 1e-3 => d.Value.ToString("0.00e+0", CultureInfo.InvariantCulture),
        var d => d.Value.ToString("0.####", CultureInfo.InvariantCulture),
    };

    private static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}
