using System.Globalization;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;

namespace ModelBuild.Passes;

/// <summary>
/// checks.accuracy as accuracy-aware quantization works to keep it: the thresholds of the check, scored with
/// evaluate.metric exactly as the accuracy check scores the artifact (<see cref="Scorer"/>), so a
/// variant the loop accepts is one the check passes. Within the pass, the reference is the variant's float input model.
/// </summary>
/// <param name="Min">Lowest accepted score (for mae, which is better lower, the highest).</param>
/// <param name="MaxDrop">Largest drop of the score below the reference's.</param>
/// <param name="MaxDropPercent">Largest drop relative to the reference's score, in percent.</param>
public sealed record AccuracyGoal(MetricKind Metric, double? Min = null, double? MaxDrop = null, double? MaxDropPercent = null)
{
    public static AccuracyGoal From(AccuracyCheckSpec check, MetricKind metric) =>
        new(metric, check.Min?.Value, check.MaxDrop?.Value, check.MaxDropPercent?.Value);

    public bool IsMetBy(double score, double referenceScore)
    {
        var higherIsBetter = Scorer.HigherIsBetter(Metric);
        if (Min is { } min && (higherIsBetter ? score < min : score > min)) return false;
        var drop = Drop(score, referenceScore);
        if (MaxDrop is { } maxDrop && drop > maxDrop) return false;
        if (MaxDropPercent is { } maxPercent)
        {
            var percent = referenceScore == 0 ? (drop > 0 ? double.PositiveInfinity : 0) : drop / Math.Abs(referenceScore) * 100;
            if (percent > maxPercent) return false;
        }
        return true;
    }

    public double Drop(double score, double referenceScore) => Scorer.HigherIsBetter(Metric) ? referenceScore - score : score - referenceScore;

    /// <summary>The goal as the manifest states it, e.g. "cosine >= 0.99, drop &lt;= 0.005".</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        var name = Metric.ToString().ToLowerInvariant();
        if (Min is { } min) parts.Add($"{name} {(Scorer.HigherIsBetter(Metric) ? ">=" : "<=")} {F(min)}");
        if (MaxDrop is { } drop) parts.Add($"drop <= {F(drop)}");
        if (MaxDropPercent is { } percent) parts.Add($"drop <= {F(percent)} %");
        return string.Join(", ", parts);
    }

    private static string F(double v) => v.ToString("0.########", CultureInfo.InvariantCulture);
}
