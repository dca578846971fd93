using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using ModelBuild.Execution;

namespace ModelBuild.Evaluation;

/// <summary>Runs a model over a whole evaluation set in batches and joins the outputs.</summary>
public static class BatchedRunner
{
    /// <summary>A fixed batch: no input has a dynamic first axis (see <see cref="BatchLayout"/> for mixed models).</summary>
    public static bool HasFixedBatch(ModelInterface model) => model.Inputs.Count > 0 && !model.Inputs.Any(i => i.HasDynamicBatch);

    /// <summary>Batch size: the configured one when the batch is dynamic (1 when an input fed whole holds a batch axis
    /// of its own, a recurrent state), else the model's fixed batch.</summary>
    public static int BatchSizeFor(ModelInterface model, int preferred)
    {
        if (!HasFixedBatch(model)) return BatchLayout.Of(model.Inputs).SampleBySample ? 1 : preferred;
        var first = model.Inputs.FirstOrDefault(i => i.Dims.Count > 0 && !i.Dims[0].IsDynamic);
        return first is null ? preferred : (int)first.Dims[0].Size!.Value;
    }

    /// <summary>
    /// Runs every sample. With a fixed batch axis, samples that do not fill a last batch are left out: the
    /// outputs then have fewer rows than the set, and scoring uses the matching first labels.
    /// </summary>
    public static IReadOnlyDictionary<string, NdArray> Run(ModelRunner runner, EvaluationSet set, int batchSize, bool fixedBatch,
        CancellationToken cancellation,
        Action<int, int>? progress = null) =>
        Run(runner.Run, set, batchSize, fixedBatch, cancellation, progress);

    /// <summary>
    /// The same batching around any runner (ONNX Runtime, or libtorch for the reference outputs). Batches are read
    /// from the set as they are run, so inputs never all sit in memory; <paramref name="progress"/> gets (samples done, total).
    /// </summary>
    public static IReadOnlyDictionary<string, NdArray> Run(Func<IReadOnlyDictionary<string, NdArray>, IReadOnlyDictionary<string, NdArray>> run,
        EvaluationSet set, int batchSize, bool fixedBatch, CancellationToken cancellation, Action<int, int>? progress = null)
    {
        var usable = fixedBatch ? set.Count / batchSize * batchSize : set.Count;
        if (usable == 0)
            throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                $"the model takes batches of {batchSize} but the evaluation data has only {set.Count} sample(s)");
        var parts = new Dictionary<string, List<NdArray>>(StringComparer.Ordinal);
        var done = 0;
        foreach (var batch in set.Batches(batchSize))
        {
            cancellation.ThrowIfCancellationRequested();
            if (done >= usable) break;
            foreach (var (name, output) in run(batch))
            {
                if (!parts.TryGetValue(name, out var list)) parts[name] = list = new List<NdArray>();
                list.Add(output);
            }
            done += Math.Min(batchSize, set.Count - done);
            progress?.Invoke(done, usable);
        }
        return parts.ToDictionary(kv => kv.Key, kv => NdArrayConcat.AlongFirstAxis(kv.Value), StringComparer.Ordinal);
    }
}
