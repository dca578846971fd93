using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using ModelBuild.Runtime;

namespace ModelBuild.Evaluation;

/// <summary>Runs a model over a whole evaluation set in batches and joins the outputs.</summary>
public static class BatchedRunner
{
    /// <summary>
    /// Batch size: the configured one when every input has a dynamic first axis, else the model's fixed batch.
    /// Samples that do not fill a last fixed-size batch are left out (counted in <see cref="Run"/>'s result).
    /// </summary>
    public static int BatchSizeFor(ModelInterface model, int preferred)
    {
        if (model.Inputs.All(i => i.HasDynamicBatch)) return preferred;
        var first = model.Inputs.FirstOrDefault(i => i.Dims.Count > 0 && !i.Dims[0].IsDynamic);
        return first is null ? preferred : (int)first.Dims[0].Size!.Value;
    }

    public static IReadOnlyDictionary<string, NdArray> Run(ModelRunner runner, EvaluationSet set, int batchSize, CancellationToken cancellation)
    {
        var usable = set.Count / batchSize * batchSize;
        if (usable == 0)
            throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                $"the model takes batches of {batchSize} but the evaluation data has only {set.Count} sample(s)");
        var parts = new Dictionary<string, List<NdArray>>(StringComparer.Ordinal);
        for (var start = 0; start < usable; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            var batch = set.Inputs.ToDictionary(kv => kv.Key, kv => kv.Value.Slice(start, batchSize), StringComparer.Ordinal);
            foreach (var (name, output) in runner.Run(batch))
            {
                if (!parts.TryGetValue(name, out var list)) parts[name] = list = new List<NdArray>();
                list.Add(output);
            }
        }
        return parts.ToDictionary(kv => kv.Key, kv => NdArrayConcat.AlongFirstAxis(kv.Value), StringComparer.Ordinal);
    }
}
