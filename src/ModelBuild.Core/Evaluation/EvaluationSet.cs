using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Data.Sources;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Evaluation;

/// <summary>
/// The inputs every artifact of a model is run on (and the labels, when the manifest gives data): real
/// evaluation data when declared, else deterministic inputs generated from the model's shapes.
/// Inputs are read through an <see cref="IEvaluationSource"/>, a batch at a time, so only the models' outputs
/// (not the inputs) of the whole set are held in memory.
/// </summary>
public sealed class EvaluationSet
{
    private readonly IEvaluationSource _source;

    public EvaluationSet(IEvaluationSource source, string description, bool synthetic = false, SourceLocation? dataLocation = null)
    {
        _source = source;
        Description = description;
        IsSynthetic = synthetic;
        DataLocation = dataLocation;
    }

    /// <summary>The manifest key naming the data (<c>evaluate.data</c>): where problems with the data are reported.</summary>
    public SourceLocation? DataLocation { get; }

    public NdArray? Labels => _source.Labels;

    /// <summary>Inputs fed whole with every batch rather than sliced into samples (see <see cref="BatchLayout"/>).</summary>
    public IReadOnlySet<string> Whole { get; init; } = new HashSet<string>();
    public int Count => _source.Count;
    public string Description { get; }
    public bool IsSynthetic { get; }

    public static EvaluationSet Create(EvaluateSpec? spec, ModelInterface model, string manifestDirectory, int syntheticSamples, int seed,
        IReadOnlyDictionary<string, InputValueRange>? ranges = null, IReadOnlyList<TensorSpec>? declared = null, WordPieceTokenizer? text = null)
    {
        if (spec is null)
        {
            var inputs = ExampleInputs(model.Inputs, declared);
            var layout = BatchLayout.Of(inputs);
            var batch = inputs.Any(i => i.HasDynamicBatch) ? syntheticSamples : 1;
            // Inputs fed whole are made for one sample: their own batch-like axes (a state's) are 1, as the batches are.
            var sliced = inputs.Where(i => !layout.IsWhole(i.Name)).ToList();
            IReadOnlyList<string> sentences = [];
            var samples = SyntheticInputs.Generate(sliced, batch, seed, ranges);
            if (text is not null) samples = SyntheticInputs.WithText(sliced, samples, text, ranges, out sentences);
            var generated = samples
                .Concat(SyntheticInputs.Generate(inputs.Where(i => layout.IsWhole(i.Name)).ToList(), 1, seed, ranges))
                .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            var count = (int)generated.First(p => !layout.IsWhole(p.Key)).Value.Shape[0];
            var whole = layout.Whole.Count == 0 ? "" : $"; {string.Join(", ", layout.Whole.Order())} fed whole";
            var words = sentences.Count == 0 ? "" : $"; {string.Join(", ", sentences)}: English sentences in WordPiece ids from {text!.VocabularyPath}";
            return new EvaluationSet(new InMemorySource(generated, null, count, layout.Whole),
                $"generated from input shapes ({count} samples, seed {seed}{whole}{words})",
                synthetic: true) { Whole = layout.Whole };
        }
        return new EvaluationSet(EvaluationSources.Open(spec, model.Inputs), spec.Describe(manifestDirectory), dataLocation: spec.DataKey)
            { Whole = BatchLayout.Of(model.Inputs).Whole };
    }

    /// <summary>
    /// The value ranges generated inputs take: the manifest's <c>inputs[].range</c>, else, for an integer input that
    /// indexes a table in the graph, [0, rows − 1] (token ids across the vocabulary, token types within their table).
    /// </summary>
    public static IReadOnlyDictionary<string, InputValueRange> GeneratedRanges(IReadOnlyList<TensorSpec>? declared,
        IReadOnlyDictionary<string, long> indexLimits)
    {
        var ranges = indexLimits.ToDictionary(p => p.Key, p => new InputValueRange(0, p.Value - 1), StringComparer.Ordinal);
        foreach (var input in declared ?? [])
            if (input.Range is { } r) ranges[input.Name.Value] = new InputValueRange(r.Min, r.Max);
        return ranges;
    }

    /// <summary>
    /// The model's inputs as generated inputs take them: where the manifest declares a fixed size for an axis the model
    /// leaves dynamic (<c>shape: [batch, 512]</c> for a model's <c>[?, ?]</c>), that size is the example size.
    /// </summary>
    public static IReadOnlyList<TensorInfo> ExampleInputs(IReadOnlyList<TensorInfo> model, IReadOnlyList<TensorSpec>? declared) =>
        WithDeclaredBatchAxes(model, declared).Select(input => declared?.FirstOrDefault(d => d.Name.Value == input.Name) is { } spec
                && spec.Shape.Count == input.Dims.Count
            ? input with { Dims = input.Dims.Select((d, i) => d.IsDynamic && spec.Shape[i].Size is { } size ? Dimension.Fixed(size) : d).ToList() }
            : input).ToList();

    /// <summary>The model's inputs with the manifest's <c>batch_axis</c> choices, which decide what is sliced into samples.</summary>
    public static IReadOnlyList<TensorInfo> WithDeclaredBatchAxes(IReadOnlyList<TensorInfo> model, IReadOnlyList<TensorSpec>? declared) =>
        model.Select(input => declared?.FirstOrDefault(d => d.Name.Value == input.Name)?.BatchAxis is { } axis
            ? input with { DeclaredBatchAxis = axis } : input).ToList();

    /// <summary>The samples in order, read lazily <paramref name="batchSize"/> at a time.</summary>
    public IEnumerable<IReadOnlyDictionary<string, NdArray>> Batches(int batchSize) =>
        DataLocation is { } at ? Relocated(_source.Batches(batchSize), at) : _source.Batches(batchSize);

    /// <summary>Streaming sources meet a damaged row or image only while batches are read; report it at the manifest too.</summary>
    private static IEnumerable<IReadOnlyDictionary<string, NdArray>> Relocated(IEnumerable<IReadOnlyDictionary<string, NdArray>> batches,
        SourceLocation at)
    {
        using var reader = batches.GetEnumerator();
        while (true)
        {
            IReadOnlyDictionary<string, NdArray> batch;
            try
            {
                if (!reader.MoveNext()) break;
                batch = reader.Current;
            }
            catch (ModelBuildException e) when (DataFileErrors.IsAtDataFile(e))
            {
                throw DataFileErrors.Relocated(e, at);
            }
            yield return batch;
        }
    }

    /// <summary>Most input values a repeated batch may hold (1 GiB of float32), checked before the copies are made.</summary>
    public const long MaxTakenElements = 1L << 28;

    /// <summary>
    /// The first <paramref name="count"/> samples, repeated if the set is smaller (for latency batches). A batch
    /// over <see cref="MaxTakenElements"/> input values is MB1004 at <paramref name="location"/>.
    /// </summary>
    public IReadOnlyDictionary<string, NdArray> Take(int count, SourceLocation? location = null)
    {
        var first = _source.Batches(Math.Min(count, Count)).First();
        var have = (int)first.First(p => !Whole.Contains(p.Key)).Value.Shape[0];
        if (count <= have) return first;
        var valuesPerSample = first.Where(p => !Whole.Contains(p.Key)).Sum(p => p.Value.Length / Math.Max(1, have));
        if (valuesPerSample > MaxTakenElements / count)
            throw new ModelBuildException(DiagnosticCodes.InvalidValue,
                $"a batch of {count} samples holds {(double)valuesPerSample * count:N0} input values, over the {MaxTakenElements:N0} ModelBuild " +
                $"holds in memory; lower checks.latency.batch",
                location);
        var result = new Dictionary<string, NdArray>(StringComparer.Ordinal);
        foreach (var (name, array) in first)
        {
            if (Whole.Contains(name)) { result[name] = array; continue; }
            var parts = new List<NdArray>();
            for (var taken = 0; taken < count; taken += have)
                parts.Add(array.Slice(0, Math.Min(have, count - taken)));
            result[name] = NdArrayConcat.AlongFirstAxis(parts);
        }
        return result;
    }
}
