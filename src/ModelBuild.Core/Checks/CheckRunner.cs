using System.Globalization;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Results;

namespace ModelBuild.Checks;

/// <summary>
/// Judges one artifact against the manifest's checks and records each outcome (threshold, measured value,
/// pass/fail, the yaml location of the threshold) on the artifact's report.
/// Which checks apply: parity to the base export and to lossless variants (a quantized model is judged by
/// accuracy, not by 1e-4 parity); accuracy to every artifact; latency and size to deployment candidates;
/// finite outputs to every artifact, always; declared output ranges to every artifact.
/// </summary>
public static class CheckRunner
{
    public static void Judge(ArtifactReport artifact, ModelSpec spec, MetricKind metric, double? sourceScore, bool isDeploymentCandidate)
    {
        var checks = spec.Checks;
        if (checks.Parity is { } parity && artifact.Lossless && artifact.ParityMaxAbs is { } maxAbs)
            Add(artifact, parity.Severity, "parity.max_abs", DiagnosticCodes.ParityFailed, "<=", parity.MaxAbs, maxAbs,
                $"max abs difference from the source model's outputs is {Format(maxAbs)}");
        else if (checks.Parity is null && artifact.Lossless && spec.Source.Kind != ModelSourceKind.Onnx)
            JudgeConversion(artifact, spec);

        if (checks.Accuracy is { } accuracy && artifact.Score is { } score)
            JudgeAccuracy(artifact, accuracy, metric, score, sourceScore);
        if (!artifact.Lossless && (checks.Similarity is not null || checks.Accuracy is null))
            JudgeSimilarity(artifact, spec);

        JudgeOutputs(artifact, spec);

        if (!isDeploymentCandidate) return;

        if (checks.Latency is { } latency && artifact.Latency is { } measured)
            Add(artifact, latency.Severity, "latency.p95_ms", DiagnosticCodes.LatencyOverBudget, "<=", latency.P95Ms, measured.P95Ms,
                $"p95 latency at batch {measured.Batch} is {Format(measured.P95Ms)} ms");

        if (checks.Size is { } size)
            Add(artifact, size.Severity, "size.max_mb", DiagnosticCodes.SizeOverBudget, "<=", size.MaxMb, artifact.SizeMb,
                $"size is {Format(artifact.SizeMb)} MB ({artifact.SizeBytes} bytes)");
    }

    /// <summary>Without checks.parity, a model we converted (TorchScript, TorchSharp) is still held to PyTorch's own
    /// outputs: max |difference| ≤ <see cref="ConversionTolerance"/> × max(1, max |output|) per output. A miss is a
    /// converter defect, not a property of the user's model.</summary>
    private static void JudgeConversion(ArtifactReport artifact, ModelSpec spec)
    {
        foreach (var (output, p) in artifact.Parity)
        {
            var bound = ConversionTolerance * Math.Max(1, p.Magnitude);
            if (p.MaxAbs <= bound) continue;
            Add(artifact, Severity.Error, "parity (conversion)", DiagnosticCodes.ParityFailed, "<=",
                new Threshold(bound, spec.Source.Location), p.MaxAbs,
                $"output '{output}' of the converted model differs from PyTorch's own by up to {Format(p.MaxAbs)} " +
                $"(tolerance {ConversionTolerance:G} × max(1, |output| = {Format(p.Magnitude)})): " +
                $"a converter defect, please report it with the model; " +
                "checks.parity sets another bound");
        }
    }

    /// <summary>A lossy artifact's worst cosine similarity to the source's outputs, against checks.similarity or the
    /// default floor (reported at the variant: the manifest has no threshold line to point at).</summary>
    private static void JudgeSimilarity(ArtifactReport artifact, ModelSpec spec)
    {
        if (artifact.Parity.Count == 0) return;
        var (output, worst) = artifact.Parity.Select(p => (p.Key, p.Value.Cosine))
            .MinBy(p => double.IsNaN(p.Cosine) ? double.NegativeInfinity : p.Cosine);
        var configured = spec.Checks.Similarity;
        var at = spec.Variants.FirstOrDefault(v => v.Name.Value == artifact.Name)?.Location ?? spec.Location;
        var threshold = configured?.MinCosine ?? new Threshold(SimilarityCheckSpec.DefaultMinCosine, at);
        var name = configured is null ? "similarity.min_cosine (default)" : "similarity.min_cosine";
        Add(artifact, configured?.Severity ?? Severity.Error, name, DiagnosticCodes.SimilarityTooLow, ">=", threshold,
            double.IsNaN(worst) ? -1 : worst,
            $"cosine similarity to the source model's output '{output}' is {Format(worst)}" +
            (configured is null ? " (lossy variants are held to this floor when there is no checks.accuracy; set checks.similarity to choose " +
                "another, severity: warning to only warn)" : ""));
    }

    /// <summary>The default bound on a converted model's difference from PyTorch, relative to the output's magnitude.</summary>
    public const double ConversionTolerance = 1e-4;

    private static void JudgeAccuracy(ArtifactReport artifact, AccuracyCheckSpec accuracy, MetricKind metric, double score, double? sourceScore)
    {
        var higherIsBetter = Scorer.HigherIsBetter(metric);
        var metricName = metric.ToString().ToLowerInvariant();
        if (accuracy.Min is { } min)
            Add(artifact, accuracy.Severity, "accuracy.min", DiagnosticCodes.AccuracyBelowMinimum, higherIsBetter ? ">=" : "<=", min, score,
                $"{metricName} is {FormatBeside(score, min.Value)}");
        if (sourceScore is not { } baseline) return;

        var drop = higherIsBetter ? baseline - score : score - baseline;
        artifact.ScoreDrop = drop;
        var context = $"(source model {Format(baseline)}, this artifact {Format(score)})";
        if (accuracy.MaxDrop is { } maxDrop)
            Add(artifact, accuracy.Severity, "accuracy.max_drop", DiagnosticCodes.AccuracyDropTooLarge, "<=", maxDrop, drop,
                $"{metricName} dropped by {Format(drop)} {context}");
        if (accuracy.MaxDropPercent is { } maxPercent)
        {
            var percent = baseline == 0 ? (drop > 0 ? double.PositiveInfinity : 0) : drop / Math.Abs(baseline) * 100;
            Add(artifact, accuracy.Severity, "accuracy.max_drop_percent", DiagnosticCodes.AccuracyDropTooLarge, "<=", maxPercent, percent,
                $"{metricName} dropped by {Format(percent)} % of the source score {context}");
        }
    }

    /// <summary>NaN or infinite outputs are never deployable; declared ranges are a promise to the app.</summary>
    private static void JudgeOutputs(ArtifactReport artifact, ModelSpec spec)
    {
        foreach (var (name, stats) in artifact.OutputStats)
        {
            var bad = stats.NanCount + stats.InfCount;
            Add(artifact, Severity.Error, $"outputs.{name}.finite", DiagnosticCodes.OutputNotFinite, "<=", new Threshold(0, spec.Location), bad,
                $"output '{name}' has {stats.NanCount} NaN and {stats.InfCount} infinite value(s) on the evaluation data");
            var declared = spec.Outputs?.FirstOrDefault(o => o.Name.Value == name);
            if (declared?.Range is not { } range) continue;
            var low = new Threshold(range.Min, declared.Location);
            var high = new Threshold(range.Max, declared.Location);
            Add(artifact, Severity.Error, $"outputs.{name}.range.min", DiagnosticCodes.OutputOutOfRange, ">=", low, stats.Min,
                $"output '{name}' goes down to {Format(stats.Min)}");
            Add(artifact, Severity.Error, $"outputs.{name}.range.max", DiagnosticCodes.OutputOutOfRange, "<=", high, stats.Max,
                $"output '{name}' goes up to {Format(stats.Max)}");
        }
    }

    public static void Add(ArtifactReport artifact, Severity severity, string name, string code, string comparison,
        Threshold threshold, double measured, string what)
    {
        var passed = comparison == "<=" ? measured <= threshold.Value : measured >= threshold.Value;
        var message = passed
            ? $"{what}; within {name} {comparison} {FormatThreshold(threshold.Value)}"
            : $"{what}, which breaks {name} {comparison} {FormatThreshold(threshold.Value)}";
        artifact.Checks.Add(new CheckReport(name, code, comparison, threshold.Value, measured, passed,
            severity == Severity.Warning ? "warning" : "error", threshold.Location.ToString(), message, threshold.Location));
    }

    /// <summary>A yes/no check (a checklist item): recorded as measured 1 or 0 against a threshold of 1.</summary>
    public static void AddItem(ArtifactReport artifact, Severity severity, string name, string code, bool passed,
        string message, SourceLocation at) =>
        artifact.Checks.Add(new CheckReport(name, code, "==", 1, passed ? 1 : 0, passed,
            severity == Severity.Warning ? "warning" : "error", at.ToString(), message, at));

    /// <summary>The diagnostics for an artifact's failed checks, each at the yaml location of its threshold.</summary>
    public static IEnumerable<Diagnostic> Failures(string modelName, ArtifactReport artifact) =>
        artifact.Checks.Where(c => !c.Passed).Select(c => new Diagnostic(
            c.Code,
            c.Severity == "warning" ? Severity.Warning : Severity.Error,
            $"model '{modelName}', {Describe(artifact)}: {c.Message}",
            c.At));

    private static string Describe(ArtifactReport artifact) =>
        artifact.Name == VariantSpec.BaseName ? "base export" : $"variant '{artifact.Name}'";

    /// <summary>
    /// <paramref name="value"/> with enough decimals to tell it from <paramref name="threshold"/> when they differ
    /// (a cosine of 0.99998 against a minimum of 0.99999 must not read "1, which breaks >= 1").
    /// </summary>
    internal static string FormatBeside(double value, double threshold)
    {
        var shown = Format(value);
        for (var decimals = 5; decimals <= 12 && value != threshold && shown == Format(threshold); decimals++)
            shown = value.ToString("0." + new string('#', decimals), CultureInfo.InvariantCulture);
        return shown;
    }

    /// <summary>A threshold as the manifest wrote it: every decimal the user gave (0.99999 stays 0.99999).</summary>
    private static string FormatThreshold(double value) =>
        Math.Abs(value) is > 0 and < 1e-3 ? Format(value) : value.ToString("0.############", CultureInfo.InvariantCulture);

    internal static string Format(double value) =>
        value.ToString(Math.Abs(value) is > 0 and < 1e-3 ? "0.###e+0" : "0.####", CultureInfo.InvariantCulture);
}
