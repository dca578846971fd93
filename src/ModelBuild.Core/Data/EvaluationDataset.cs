using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Data;

/// <summary>
/// Evaluation samples checked against a model's inputs. The first axis of every array is the sample axis.
/// </summary>
/// <remarks>
/// Conversions done on load, so arrays saved with NumPy defaults still fit: float64 data feeding a float32
/// input becomes float32, and int32 data feeding an int64 input becomes int64. Labels may be any integer
/// type (int64, int32, uint8, int8) and are always stored as int64. Every other type difference is MB2011.
/// </remarks>
public sealed class EvaluationDataset
{
    /// <summary>The name labels have inside an .npz.</summary>
    public const string LabelsName = "labels";

    private EvaluationDataset(IReadOnlyDictionary<string, NdArray> inputs, NdArray? labels, int count, IReadOnlySet<string> whole)
    {
        Inputs = inputs;
        Labels = labels;
        Count = count;
        Whole = whole;
    }

    /// <summary>Inputs held as the one tensor fed with every batch (a recurrent state, a scalar), not [Count, ...].</summary>
    public IReadOnlySet<string> Whole { get; }

    /// <summary>One array per model input, keyed by input name, each [Count, ...].</summary>
    public IReadOnlyDictionary<string, NdArray> Inputs { get; }

    /// <summary>Int64 class indices, shape [Count]; null when the data has none.</summary>
    public NdArray? Labels { get; }

    public int Count { get; }

    /// <summary>
    /// Loads the data an <c>evaluate:</c> block names: an .npz with one array per model input (plus optional
    /// <c>labels</c>), or an inputs .npy (single-input models only) with an optional labels .npy.
    /// <see cref="EvaluateSpec.Samples"/> keeps only the first N samples.
    /// Unreadable files are MB2010; data that does not fit the model is MB2011 at the evaluate block.
    /// </summary>
    public static EvaluationDataset Load(EvaluateSpec spec, IReadOnlyList<TensorInfo> modelInputs)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(modelInputs);
        return DataFileErrors.At(spec.DataKey, () => LoadAt(spec, modelInputs, spec.DataKey));
    }

    private static EvaluationDataset LoadAt(EvaluateSpec spec, IReadOnlyList<TensorInfo> modelInputs, SourceLocation at)
    {
        if (spec.Format is EvaluationDataFormat.Csv or EvaluationDataFormat.Idx or EvaluationDataFormat.Images)
            return Sources.EvaluationSources.ReadAll(Sources.EvaluationSources.Open(spec, modelInputs), modelInputs,
                spec.Files.FirstOrDefault() ?? "data", at);
        if (spec.Data is { } npz)
        {
            var held = NpzReader.Names(npz);
            var missing = modelInputs.Select(i => i.Name).Where(n => !held.Contains(n)).ToList();
            if (missing.Count > 0)
                throw Mismatch(at,
                    $"'{npz}' has no array for model input{(missing.Count > 1 ? "s" : "")} {NpzReader.Describe(missing)}; " +
                    $"it holds {NpzReader.Describe(held)}. Save one array per model input, named after the input.");
            var wanted = modelInputs.Select(i => i.Name).ToList();
            if (held.Contains(LabelsName)) wanted.Add(LabelsName);
            var arrays = NpzReader.Read(npz, wanted);
            return Create(
                modelInputs.ToDictionary(i => i.Name, i => arrays[i.Name]),
                arrays.GetValueOrDefault(LabelsName), modelInputs, spec.Samples, npz, at);
        }
        if (spec.InputsFile is { } inputsFile)
        {
            if (modelInputs.Count != 1)
                throw Mismatch(at,
                    $"separate inputs/labels .npy files only work for single-input models, but the model takes {modelInputs.Count} " +
                    $"({string.Join(", ", modelInputs.Select(i => i.Name))}); use an .npz with one array per input.");
            var inputs = NpyReader.Read(inputsFile);
            var labels = spec.LabelsFile is { } lf ? NpyReader.Read(lf) : null;
            return Create(
                new Dictionary<string, NdArray> { [modelInputs[0].Name] = inputs },
                labels, modelInputs, spec.Samples, inputsFile, at, labelsSource: spec.LabelsFile);
        }
        throw new ArgumentException("The evaluate spec names no data file.", nameof(spec));
    }

    /// <summary>Validates in-memory arrays against the model inputs, as <see cref="Load"/> does after reading.</summary>
    /// <param name="source">The data file named in messages.</param>
    /// <param name="labelsSource">The file the labels come from, when not <paramref name="source"/> (the .npy pair form).</param>
    public static EvaluationDataset Create(
        IReadOnlyDictionary<string, NdArray> arrays,
        NdArray? labels,
        IReadOnlyList<TensorInfo> modelInputs,
        int? samples,
        string source,
        SourceLocation location,
        string? labelsSource = null)
    {
        if (samples is < 1)
            throw Mismatch(location, $"samples must be at least 1, got {samples}.");
        if (modelInputs.Count == 0)
            throw Mismatch(location, "the model takes no inputs, so there is nothing to feed evaluation data to.");

        var converted = new Dictionary<string, NdArray>(StringComparer.Ordinal);
        var layout = BatchLayout.Of(modelInputs);
        long? count = null;
        string? countFrom = null;
        foreach (var input in modelInputs)
        {
            if (!arrays.TryGetValue(input.Name, out var array))
                throw Mismatch(location, $"'{source}' has no array for model input '{input.Name}'; it holds {NpzReader.Describe(arrays.Keys)}.");
            array = ConvertTo(array, input, source, location);
            if (layout.IsWhole(input.Name))
            {
                // Fed whole with every batch: the array is the input itself, of the model's rank, without a sample axis.
                CheckWholeShape(array, input, source, location);
                converted[input.Name] = array;
                continue;
            }
            CheckShape(array, input, source, location);
            if (count is null) { count = array.Shape[0]; countFrom = input.Name; }
            else if (array.Shape[0] != count)
                throw Mismatch(location,
                    $"'{source}' has {count} samples for input '{countFrom}' but {array.Shape[0]} for input '{input.Name}'; " +
                    $"every input needs the same number.");
            converted[input.Name] = array;
        }

        var n = count!.Value;
        if (labels is not null)
        {
            labels = ToLabels(labels, labelsSource ?? source, location);
            if (labels.Shape[0] != n)
                throw Mismatch(location, labelsSource is null
                    ? $"'{source}' has {labels.Shape[0]} labels for {n} samples; they must match."
                    : $"'{labelsSource}' has {labels.Shape[0]} labels for {n} samples in '{source}'; they must match.");
        }
        if (n == 0)
            throw Mismatch(location, $"'{source}' holds no samples.");
        if (samples is int cap && cap < n)
        {
            n = cap;
            foreach (var key in converted.Keys.Where(k => !layout.IsWhole(k)).ToList())
                converted[key] = converted[key].Slice(0, n);
            labels = labels?.Slice(0, n);
        }
        if (n > int.MaxValue)
            throw Mismatch(location, $"'{source}' holds {n} samples; at most {int.MaxValue} are supported (set samples: to use fewer).");
        return new EvaluationDataset(converted, labels, (int)n, layout.Whole);
    }

    /// <summary>
    /// The samples in order, <paramref name="batchSize"/> at a time (the last batch holds the remainder),
    /// as input dictionaries ready to feed the model. Rows are copied.
    /// </summary>
    public IEnumerable<IReadOnlyDictionary<string, NdArray>> Batches(int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return Iterate();

        IEnumerable<IReadOnlyDictionary<string, NdArray>> Iterate()
        {
            for (var start = 0; start < Count; start += batchSize)
            {
                var size = Math.Min(batchSize, Count - start);
                yield return Samples(Inputs, Whole, start, size);
            }
        }
    }

    /// <summary>Samples [start, start + size) of every input, and the inputs fed whole as they are.</summary>
    public static IReadOnlyDictionary<string, NdArray> Samples(IReadOnlyDictionary<string, NdArray> inputs,
        IReadOnlySet<string>? whole, long start, long size) =>
        inputs.ToDictionary(kv => kv.Key, kv => whole?.Contains(kv.Key) == true ? kv.Value : kv.Value.Slice(start, size), StringComparer.Ordinal);

    private static NdArray ConvertTo(NdArray array, TensorInfo input, string source, SourceLocation location)
    {
        if (array.ElementType == input.ElementType) return array;
        if (array.ElementType == TensorElementType.Float64 && input.ElementType == TensorElementType.Float32)
        {
            var from = array.As<double>();
            var to = new float[from.Length];
            for (var i = 0; i < from.Length; i++) to[i] = (float)from[i];
            return new NdArray(TensorElementType.Float32, array.Shape, to);
        }
        if (array.ElementType == TensorElementType.Int32 && input.ElementType == TensorElementType.Int64)
            return ToInt64(array);
        throw Mismatch(location,
            $"array '{input.Name}' in '{source}' holds {array.ElementType} but model input '{input.Name}' takes {input.ElementType}.");
    }

    private static void CheckWholeShape(NdArray array, TensorInfo input, string source, SourceLocation location)
    {
        var fits = array.Shape.Length == input.Dims.Count && input.Dims.Select((d, i) => d.Size is not { } size || array.Shape[i] == size)
            .All(b => b);
        if (!fits)
            throw Mismatch(location,
                $"array '{input.Name}' in '{source}' has shape {array} but model input '{input.Name}' is [{string.Join(",", input.Dims)}]; " +
                "its first axis is not the batch, so the array is the one tensor fed with every batch and needs the input's own shape.");
    }

    private static void CheckShape(NdArray array, TensorInfo input, string source, SourceLocation location)
    {
        var expected = $"[{string.Join(",", input.Dims)}]";
        if (input.Dims.Count == 0)
            throw Mismatch(location, $"model input '{input.Name}' is a scalar, so it has no sample axis to take evaluation data along.");
        if (array.Shape.Length != input.Dims.Count)
            throw Mismatch(location,
                $"array '{input.Name}' in '{source}' has shape {array} but model input '{input.Name}' is {expected}: " +
                $"the data needs {input.Dims.Count} dimensions, samples first.");
        for (var axis = 1; axis < input.Dims.Count; axis++)
        {
            if (input.Dims[axis].Size is long size && array.Shape[axis] != size)
                throw Mismatch(location,
                    $"array '{input.Name}' in '{source}' has shape {array} but model input '{input.Name}' is {expected}: " +
                    $"axis {axis} is {array.Shape[axis]}, expected {size}.");
        }
    }

    private static NdArray ToLabels(NdArray labels, string source, SourceLocation location)
    {
        if (labels.Shape.Length != 1)
            throw Mismatch(location, $"labels in '{source}' have shape {labels}; they must be one class index per sample (1-D).");
        if (labels.ElementType is not (TensorElementType.Int64 or TensorElementType.Int32 or TensorElementType.UInt8 or TensorElementType.Int8))
            throw Mismatch(location, $"labels in '{source}' hold {labels.ElementType}; they must be integer class indices.");
        return ToInt64(labels);
    }

    private static NdArray ToInt64(NdArray array)
    {
        if (array.ElementType == TensorElementType.Int64) return array;
        var to = new long[array.Length];
        switch (array.Data)
        {
            case int[] a: for (var i = 0; i < a.Length; i++) to[i] = a[i]; break;
            case byte[] a: for (var i = 0; i < a.Length; i++) to[i] = a[i]; break;
            case sbyte[] a: for (var i = 0; i < a.Length; i++) to[i] = a[i]; break;
            default: throw new InvalidOperationException($"Cannot widen {array.ElementType} to Int64.");
        }
        return new NdArray(TensorElementType.Int64, array.Shape, to);
    }

    private static ModelBuildException Mismatch(SourceLocation location, string message) =>
        new(DiagnosticCodes.DataMismatch, char.ToUpperInvariant(message[0]) + message[1..], location);
}
