using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes.Quantization;
using ModelBuild.Execution;
using Onnx;

namespace ModelBuild.Passes;

/// <summary>
/// What the static and dynamic accuracy-aware loops share: the judge data in batches, a model's first output over
/// them, and each round's verdict against the float model.
/// </summary>
public static class AccuracyRounds
{
    /// <summary>Batches as the build's evaluation runs them: a partial last batch too, unless the model's batch axis is fixed.</summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, NdArray>> EvaluationBatches(EvaluationDataset data, ModelProto model,
        int batch, SourceLocation location)
    {
        if (BatchedRunner.HasFixedBatch(ModelInterfaceReader.Read(model, location)))
            return CalibrationData.Batches(data, model, batch, location).ToList();
        var batches = new List<IReadOnlyDictionary<string, NdArray>>();
        for (var start = 0; start < data.Count; start += batch)
        {
            var size = Math.Min(batch, data.Count - start);
            batches.Add(data.Inputs.ToDictionary(kv => kv.Key, kv => kv.Value.Slice(start, size), StringComparer.Ordinal));
        }
        return batches;
    }

    /// <summary>The model's first output over the batches, concatenated (ONNX Runtime runs the model from a temp file).</summary>
    public static NdArray RunAll(ModelProto model, IReadOnlyList<IReadOnlyDictionary<string, NdArray>> batches, SourceLocation location)
    {
        var path = Path.Combine(Path.GetTempPath(), $"modelbuild-eval-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
            using var runner = new ModelRunner(path, location);
            return NdArrayConcat.AlongFirstAxis(batches.Select(b => runner.Run(b)[runner.OutputNames[0]]).ToList());
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// A round's verdict and its wording. With a manifest goal: evaluate.metric, scored as the accuracy check scores
    /// it, against the float model's own score. Without (bench): top-1 drop with labels, else 1 − cosine, within MaxDrop.
    /// </summary>
    public static Func<NdArray, (bool Met, string Score)> RoundJudge(AccuracyTarget accuracy, NdArray reference,
        NdArray? labels, SourceLocation location)
    {
        // A fixed batch axis runs whole batches only: the labels of a left-over partial batch are dropped with it.
        labels = labels?.Slice(0, reference.Shape[0]);
        if (accuracy.Goal is not { } goal)
            return output =>
            {
                var drop = labels is not null
                    ? Metrics.Top1Accuracy(reference, labels) - Metrics.Top1Accuracy(output, labels)
                    : 1 - Metrics.CosineSimilarity(reference, output);
                return (drop <= accuracy.MaxDrop, $"drop {drop:0.####}");
            };
        var metric = goal.Metric.ToString().ToLowerInvariant();
        var referenceScore = Score(goal.Metric, reference, reference, labels, location);
        return output =>
        {
            var score = Score(goal.Metric, output, reference, labels, location);
            // Six decimals: cosine goals sit close to 1 (0.99, 0.999), where four would round a miss up to the goal.
            return (goal.IsMetBy(score, referenceScore), $"{metric} {score:0.######} (float {referenceScore:0.######}, drop " +
                $"{goal.Drop(score, referenceScore):0.######})");
        };
    }

    private static double Score(MetricKind metric, NdArray output, NdArray reference, NdArray? labels, SourceLocation location) =>
        Scorer.Score(metric, output, reference, labels, location)
        ?? throw new ModelBuildException(DiagnosticCodes.DataMismatch,
            $"accuracy-aware quantization scores metric {metric.ToString().ToLowerInvariant()}, which needs labels in the evaluate data", location);
}
