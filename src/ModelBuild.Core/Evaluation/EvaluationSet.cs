using ModelBuild.Data;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Evaluation;

/// <summary>
/// The inputs every artifact of a model is run on (and the labels, when the manifest gives data): real
/// evaluation data when declared, else deterministic inputs generated from the model's shapes.
/// </summary>
public sealed class EvaluationSet
{
    private EvaluationSet(IReadOnlyDictionary<string, NdArray> inputs, NdArray? labels, int count, string description)
    {
        Inputs = inputs;
        Labels = labels;
        Count = count;
        Description = description;
    }

    public IReadOnlyDictionary<string, NdArray> Inputs { get; }
    public NdArray? Labels { get; }
    public int Count { get; }
    public string Description { get; }
    public bool IsSynthetic => Labels is null && Description.StartsWith("generated", StringComparison.Ordinal);

    public static EvaluationSet Create(EvaluateSpec? spec, ModelInterface model, string manifestDirectory, int syntheticSamples, int seed)
    {
        if (spec is null)
        {
            var batch = model.Inputs.All(i => i.HasDynamicBatch) ? syntheticSamples : 1;
            var generated = SyntheticInputs.Generate(model.Inputs, batch, seed);
            var count = (int)generated.Values.First().Shape[0];
            return new EvaluationSet(generated, null, count, $"generated from input shapes ({count} samples, seed {seed})");
        }
        var dataset = EvaluationDataset.Load(spec, model.Inputs);
        var files = string.Join(", ", spec.Files.Select(f => Path.GetRelativePath(manifestDirectory, f).Replace('\\', '/')));
        return new EvaluationSet(dataset.Inputs, dataset.Labels, dataset.Count, files);
    }

    /// <summary>The first <paramref name="count"/> samples, repeated if the set is smaller (for latency batches).</summary>
    public IReadOnlyDictionary<string, NdArray> Take(int count)
    {
        var result = new Dictionary<string, NdArray>(StringComparer.Ordinal);
        foreach (var (name, array) in Inputs)
        {
            if (count <= Count)
            {
                result[name] = array.Slice(0, count);
                continue;
            }
            var parts = new List<NdArray>();
            for (var taken = 0; taken < count; taken += Count)
                parts.Add(array.Slice(0, Math.Min(Count, count - taken)));
            result[name] = NdArrayConcat.AlongFirstAxis(parts);
        }
        return result;
    }
}
