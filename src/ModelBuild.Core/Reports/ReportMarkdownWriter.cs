using System.Globalization;
using System.Text;
using ModelBuild.Results;

namespace ModelBuild.Reports;

/// <summary>modelbuild-report.md: one table per model, short enough for a CI step summary.</summary>
public static class ReportMarkdownWriter
{
    public static string Write(BuildReport report)
    {
        var md = new StringBuilder();
        md.Append("# ModelBuild report\n\n");
        md.Append($"{(report.Passed ? "✅ all checks passed" : "❌ checks failed")} · ModelBuild {report.ToolVersion} · " +
            $"{string.Join(", ", report.Manifests)}\n");
        foreach (var model in report.Models)
        {
            md.Append($"\n## {model.Name}\n\n");
            md.Append($"Source `{model.Source}` ({model.SourceKind}); deployed: **{model.Deployed}**.");
            if (model.Evaluation is { } e)
                md.Append($" Evaluated on {e.Data}, {e.Samples} samples, metric {e.Metric}" +
                          (e.SourceScore is { } s ? $" (source model: {F(s)})" : "") + ".");
            md.Append("\n\n| artifact | size (MB) | size × base | parity max abs | score | drop | p50 ms | p50 × base " +
                "| p95 ms | p99 ms | checks |\n");
            md.Append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
            foreach (var a in model.Artifacts)
            {
                var checks = a.Checks.Count == 0
                    ? "—"
                    : string.Join("<br>", a.Checks.Select(c => $"{(c.Passed ? "✅" : c.Severity == "warning" ? "⚠️" : "❌")} {c.Check} " +
                        $"{c.Comparison} {F(c.Threshold)} (measured {F(c.Measured)})"));
                md.Append($"| {a.Name}{(a.Name == model.Deployed ? " 🚀" : "")} | {F(a.SizeMb)} | {F(a.VsBase?.SizeRatio)} | {F(a.ParityMaxAbs)} " +
                    $"| {F(a.Score)} | {F(a.ScoreDrop)} | {F(a.Latency?.P50Ms)} | {F(a.VsBase?.P50Ratio)} | {F(a.Latency?.P95Ms)} | " +
                    $"{F(a.Latency?.P99Ms)} | {checks} |\n");
            }
            foreach (var a in model.Artifacts.Where(a => a.Pruning is not null))
                Pruning(md, a.Name, a.Pruning!);
            if (model.Tflite is { } t) Tflite(md, t);
        }
        if (report.Diagnostics.Count > 0)
        {
            md.Append("\n## Diagnostics\n\n");
            foreach (var d in report.Diagnostics)
                md.Append($"- **{d.Severity} {d.Code}** {(d.Location is null ? "" : $"`{d.Location}` ")}{d.Message}\n");
        }
        return md.ToString();
    }

    private static void Tflite(StringBuilder md, TfliteReport t)
    {
        md.Append($"\n**TFLite** `{t.Path}` from {t.From}: {F(t.SizeBytes / (1024.0 * 1024.0))} MB ({F(t.SizeRatio)} × the ONNX artifact), " +
                  $"{t.Int8Ops} int8 and {t.FloatOps} float ops, layout {t.Layout}, I/O {t.Io}. ");
        if (t.Judged is { } j)
            md.Append($"Checked by {t.CheckedBy}: parity max abs {F(j.ParityMaxAbs)}, score {F(j.Score)}; " +
                      string.Join(", ", j.Checks.Select(c => $"{(c.Passed ? "✅" : c.Severity == "warning" ? "⚠️" : "❌")} {c.Check}")) + "\n");
        else
            md.Append($"Not checked: {t.NotChecked}\n");
    }

    private static void Pruning(StringBuilder md, string name, PruningReport p)
    {
        md.Append($"\n**{name}**: {p.Method}, amount {F(p.Amount)}. Layers: ");
        md.Append(string.Join(", ", p.Layers.Select(l => l.Kept is { } k ? $"{l.Node} {k}/{l.Channels}" : $"{l.Node} {F(100 * l.Sparsity)} % zero")));
        md.Append("\n\n| step amount | size (MB) | p50 ms | score | drop | kept |\n|---:|---:|---:|---:|---:|---|\n");
        foreach (var s in p.Steps)
            md.Append($"| {F(s.Amount)} | {F(s.SizeBytes / (1024.0 * 1024.0))} | {F(s.P50Ms)} | {F(s.Score)} | {F(s.Drop)} | " +
                $"{(s.Kept ? "yes" : "no: stopped")} |\n");
    }

    private static string F(double? value) => value switch
    {
        null => "—",
        var v when Math.Abs(v.Value) is > 0 and < 1e-3 => v.Value.ToString("0.00e+0", CultureInfo.InvariantCulture),
        var v => v.Value.ToString("0.####", CultureInfo.InvariantCulture),
    };
}
