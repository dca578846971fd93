using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;

namespace ModelBuild.Evaluation;

/// <summary>
/// Scores an artifact's outputs with the manifest's metric. top1/top5 need integer labels. mae and cosine compare
/// with the labels when the data has them (regression targets, embeddings), else with the source model's outputs.
/// </summary>
public static class Scorer
{
    public static bool HigherIsBetter(MetricKind metric) => metric != MetricKind.Mae;

    public static double? Score(MetricKind metric, NdArray output, NdArray reference, NdArray? labels, SourceLocation location)
    {
        try
        {
            return ScoreUnchecked(metric, output, reference, labels, location);
        }
        catch (ArgumentException e)
        {
            // Metrics refuses what doesn't fit (a label outside the classes, mismatched targets); here that comes
            // from the user's data, so it is bad input, not a bug (found by feeding damaged .npz files to the CLI).
            throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                $"the evaluation data does not fit metric {metric.ToString().ToLowerInvariant()}: {e.Message.Split(" (Parameter")[0]}", location, e);
        }
    }

    private static double? ScoreUnchecked(MetricKind metric, NdArray output, NdArray reference, NdArray? labels, SourceLocation location)
    {
        var n = (int)output.Shape[0];
        switch (metric)
        {
            case MetricKind.Top1:
            case MetricKind.Top5:
                if (labels is null) return null;
                if (output.Shape.Length != 2)
                    throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                        $"metric {metric.ToString().ToLowerInvariant()} needs a [samples, classes] output, but the model's first output is {output}",
                        location);
                return Metrics.TopKAccuracy(output, labels.Slice(0, n), metric == MetricKind.Top1 ? 1 : 5);
            case MetricKind.Mae:
                return Metrics.MeanAbsoluteError(Target(labels, reference, n), output);
            case MetricKind.Cosine:
                return MeanRowCosine(Target(labels, reference, n), output);
            default:
                throw new ArgumentOutOfRangeException(nameof(metric));
        }
    }

    /// <summary>Cosine per sample (row), averaged: one bad sample should not hide behind a large flattened vector.</summary>
    private static double MeanRowCosine(NdArray expected, NdArray actual)
    {
        var rows = (int)expected.Shape[0];
        var total = 0.0;
        for (var i = 0; i < rows; i++)
            total += Metrics.CosineSimilarity(expected.Slice(i, 1), actual.Slice(i, 1));
        return rows == 0 ? 0 : total / rows;
    }

    private static NdArray Target(NdArray? labels, NdArray reference, int n) => labels?.Slice(0, n) ?? reference;
}
