using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;

namespace ModelBuild.Passes.Pruning;

/// <summary>
/// What the schedule must keep: checks.accuracy's min / max_drop / max_drop_percent, judged on the evaluate data
/// against the pass's input model (the source model when the variant is built from base).
/// </summary>
public sealed record PruneGoal(EvaluateSpec Evaluate, double? Min = null, double? MaxDrop = null, double? MaxDropPercent = null)
{
    public bool HasThreshold => Min is not null || MaxDrop is not null || MaxDropPercent is not null;

    public bool Holds(double score, double reference, MetricKind metric)
    {
        var higher = Scorer.HigherIsBetter(metric);
        var drop = higher ? reference - score : score - reference;
        if (Min is { } min && (higher ? score < min : score > min)) return false;
        if (MaxDrop is { } maxDrop && drop > maxDrop + 1e-12) return false;
        if (MaxDropPercent is { } pct && reference != 0 && 100 * drop / Math.Abs(reference) > pct + 1e-9) return false;
        return true;
    }
}

/// <summary>Scores models on the evaluate data with the manifest's metric, the reference being the first model scored.</summary>
public sealed class PruneEvaluator(PruneGoal goal, SourceLocation location)
{
    private EvaluationDataset? _data;
    private NdArray? _reference;

    public MetricKind Metric => goal.Evaluate.Metric;

    /// <summary>The score of <paramref name="path"/>; the first call fixes the reference outputs (for mae/cosine without labels).</summary>
    public double Score(string path)
    {
        var model = OnnxModelFile.Load(path, location);
        var io = ModelInterfaceReader.Read(model, location);
        _data ??= EvaluationDataset.Load(goal.Evaluate, io.Inputs);
        using var runner = new ModelRunner(path, location);
        // A fixed-batch model runs whole batches only; the scorer trims the labels to the rows scored.
        var batches = io.Inputs.All(i => i.HasDynamicBatch) ? _data.Batches(64) : Quantization.CalibrationData.Batches(_data, model, 64, location);
        var outputs = batches.Select(b => runner.Run(b)[runner.OutputNames[0]]).ToList();
        var all = NdArrayConcat.AlongFirstAxis(outputs);
        _reference ??= all;
        return Scorer.Score(Metric, all, _reference, _data.Labels, location)
            ?? throw new ModelBuildException(DiagnosticCodes.DataMismatch, $"metric {Metric.ToString().ToLowerInvariant()} needs labels in the " +
                $"evaluate data", goal.Evaluate.Location);
    }
}
