using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Data.Sources;

/// <summary>Opens the reader an <c>evaluate.data</c> form names. .npz/.npy are read whole (as before); the rest stream.</summary>
public static class EvaluationSources
{
    public static IEvaluationSource Open(EvaluateSpec spec, IReadOnlyList<TensorInfo> modelInputs)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var at = spec.DataKey;
        if (spec.Samples is < 1)
            throw SampleShape.Mismatch(at, $"samples must be at least 1, got {spec.Samples}.");
        return DataFileErrors.At<IEvaluationSource>(at, () => spec.Format switch
        {
            EvaluationDataFormat.Csv => CsvSource.Open(spec.CsvFile!, spec.LabelColumn, spec.InputName, modelInputs, spec.Samples, at),
            EvaluationDataFormat.Idx => IdxSource.Open(spec.IdxImages!, spec.IdxLabels, spec.Preprocess, modelInputs, spec.Samples, at),
            EvaluationDataFormat.Images => ImageFolderSource.Open(spec.ImageDirectory!, spec.Preprocess, modelInputs, spec.Samples, at),
            _ => InMemorySource.Of(EvaluationDataset.Load(spec, modelInputs)),
        });
    }

    /// <summary>Every sample in memory: for passes that need the whole set at once (accuracy-aware quantization).</summary>
    public static EvaluationDataset ReadAll(IEvaluationSource source, IReadOnlyList<TensorInfo> modelInputs, string description,
        Diagnostics.SourceLocation location)
    {
        var parts = new Dictionary<string, List<NdArray>>(StringComparer.Ordinal);
        foreach (var batch in source.Batches(256))
            foreach (var (name, array) in batch)
            {
                if (!parts.TryGetValue(name, out var list)) parts[name] = list = [];
                list.Add(array);
            }
        return EvaluationDataset.Create(parts.ToDictionary(kv => kv.Key, kv => NdArrayConcat.AlongFirstAxis(kv.Value), StringComparer.Ordinal),
            source.Labels, modelInputs, null, description, location);
    }
}
