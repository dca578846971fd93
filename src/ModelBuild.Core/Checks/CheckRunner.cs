using System.Globalization;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Reports;

namespace ModelBuild.Checks;

/// <summary>
/// Judges one artifact against the manifest's checks and records each outcome (threshold, measured value,
/// pass/fail, the yaml location of the threshold) on the artifact's report.
/// Which checks apply: parity to the base export and to lossless variants (a quantized model is judged by
/// accuracy, not by 1e-4 parity); accuracy to every artifact; latency and size to deployment candidates.
/// </summary>
public static class CheckRunner
{
    public static void Judge(ArtifactReport artifact, ChecksSpec checks, MetricKind metric, double? sourceScore, bool isDeploymentCandidate)
    {
        if (checks.Parity is { } parity && artifact.Lossless && artifact.ParityMaxAbs is { } maxAbs)
            Add(artifact, parity, "parity.max_abs", "<=", parity.MaxAbs, maxAbs,
                $"max abs difference from the source model's outputs is {Format(maxAbs)}");

        if (checks.Accuracy is { } accuracy && artifact.Score is { } score)
        {
            var higherIsBetter = Scorer.HigherIsBetter(metric);
            var metricName = metric.ToString().ToLowerInvariant();
            if (accuracy.Min is { } min)
                Add(artifact, accuracy, "accuracy.min", higherIsBetter ? ">=" : "<=", min, score,
                    $"{metricName} is {Format(score)}");
            if (accuracy.MaxDrop is { } maxDrop && sourceScore is { } baseline)
            {
                var drop = higherIsBetter ? baseline - score : score - baseline;
                artifact.ScoreDrop = drop;
                Add(artifact, accuracy, "accuracy.max_drop", "<=", maxDrop, drop,
                    $"{metricName} dropped by {Format(drop)} (source model {Format(baseline)}, this artifact {Format(score)})");
            }
        }

        if (!isDeploymentCandidate) return;

        if (checks.Latency is { } latency && artifact.Latency is { } measured)
            Add(artifact, latency, "latency.p95_ms", "<=", latency.P95Ms, measured.P95Ms,
                $"p95 latency at batch {measured.Batch} is {Format(measured.P95Ms)} ms");

        if (checks.Size is { } size)
            Add(artifact, size, "size.max_mb", "<=", size.MaxMb, artifact.SizeMb,
                $"size is {Format(artifact.SizeMb)} MB ({artifact.SizeBytes} bytes)");
    }

    private static void Add(ArtifactReport artifact, CheckSpec check, string name, string comparison, Threshold threshold, double measured, string what)
    {
        var passed = comparison == "<=" ? measured <= threshold.Value : measured >= threshold.Value;
        var message = passed
            ? $"{what}; within {name} {comparison} {Format(threshold.Value)}"
            : $"{what}, which breaks {name} {comparison} {Format(threshold.Value)}";
        artifact.Checks.Add(new CheckReport(name, comparison, threshold.Value, measured, passed,
            check.Severity == Severity.Warning ? "warning" : "error", threshold.Location.ToString(), message));
    }

    /// <summary>The diagnostics for an artifact's failed checks, each at the yaml location of its threshold.</summary>
    public static IEnumerable<Diagnostic> Failures(string modelName, ArtifactReport artifact, ChecksSpec checks) =>
        artifact.Checks.Where(c => !c.Passed).Select(c => new Diagnostic(
            CodeOf(c.Check),
            c.Severity == "warning" ? Severity.Warning : Severity.Error,
            $"model '{modelName}', {Describe(artifact)}: {c.Message}",
            LocationOf(c.Check, checks)));

    private static string Describe(ArtifactReport artifact) =>
        artifact.Name == VariantSpec.BaseName ? "base export" : $"variant '{artifact.Name}'";

    private static string CodeOf(string check) => check switch
    {
        "parity.max_abs" => DiagnosticCodes.ParityFailed,
        "accuracy.min" => DiagnosticCodes.AccuracyBelowMinimum,
        "accuracy.max_drop" => DiagnosticCodes.AccuracyDropTooLarge,
        "latency.p95_ms" => DiagnosticCodes.LatencyOverBudget,
        "size.max_mb" => DiagnosticCodes.SizeOverBudget,
        _ => DiagnosticCodes.Internal,
    };

    private static SourceLocation? LocationOf(string check, ChecksSpec checks) => check switch
    {
        "parity.max_abs" => checks.Parity?.MaxAbs.Location,
        "accuracy.min" => checks.Accuracy?.Min?.Location,
        "accuracy.max_drop" => checks.Accuracy?.MaxDrop?.Location,
        "latency.p95_ms" => checks.Latency?.P95Ms.Location,
        "size.max_mb" => checks.Size?.MaxMb.Location,
        _ => null,
    };

    internal static string Format(double value) => value.ToString(Math.Abs(value) is > 0 and < 1e-3 ? "0.###e+0" : "0.####", CultureInfo.InvariantCulture);
}
