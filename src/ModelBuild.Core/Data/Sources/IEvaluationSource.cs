namespace ModelBuild.Data.Sources;

/// <summary>
/// Evaluation samples read a batch at a time, so a test set larger than memory can be evaluated.
/// Labels (one integer per sample) are small and known up front; inputs are produced lazily by
/// <see cref="Batches"/>, which opens the data afresh on each enumeration.
/// </summary>
public interface IEvaluationSource
{
    /// <summary>Samples the source yields (after the manifest's <c>samples</c> cap).</summary>
    int Count { get; }

    /// <summary>Int64 class indices [Count], or null when the data has none.</summary>
    NdArray? Labels { get; }

    /// <summary>The inputs in order, <paramref name="batchSize"/> samples at a time (the last batch holds the rest).</summary>
    IEnumerable<IReadOnlyDictionary<string, NdArray>> Batches(int batchSize);
}

/// <summary>Arrays already in memory (.npz, .npy, generated inputs). Inputs in <paramref name="whole"/> are not sliced
/// into samples: every batch gets them as they are (see <see cref="Onnx.BatchLayout"/>).</summary>
public sealed class InMemorySource(IReadOnlyDictionary<string, NdArray> inputs, NdArray? labels, int count,
    IReadOnlySet<string>? whole = null) : IEvaluationSource
{
    public static InMemorySource Of(EvaluationDataset dataset) => new(dataset.Inputs, dataset.Labels, dataset.Count, dataset.Whole);

    public int Count => count;
    public NdArray? Labels => labels;
    public IReadOnlyDictionary<string, NdArray> Inputs => inputs;

    public IEnumerable<IReadOnlyDictionary<string, NdArray>> Batches(int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        for (var start = 0; start < count; start += batchSize)
        {
            var size = Math.Min(batchSize, count - start);
            yield return EvaluationDataset.Samples(inputs, whole, start, size);
        }
    }
}
