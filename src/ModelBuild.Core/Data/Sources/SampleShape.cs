using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

namespace ModelBuild.Data.Sources;

/// <summary>Fits the per-sample shape a reader produces (pixels, CSV columns) to a model input's axes after the batch axis.</summary>
internal static class SampleShape
{
    /// <summary>
    /// The model's own per-sample shape when all its axes are fixed and hold as many values as
    /// <paramref name="natural"/> (so 784 CSV columns feed [1,28,28]); else <paramref name="natural"/> when it matches
    /// axis by axis (dynamic axes take any size). Anything else is MB2011.
    /// </summary>
    public static long[] Fit(TensorInfo input, long[] natural, string source, SourceLocation location)
    {
        if (input.Dims.Count == 0)
            throw Mismatch(location, $"model input '{input.Name}' is a scalar, so it has no sample axis to take evaluation data along.");
        var rest = input.Dims.Skip(1).ToList();
        var values = NdArray.ElementCount(natural);
        if (rest.All(d => d.Size is not null))
        {
            var shape = rest.Select(d => d.Size!.Value).ToArray();
            if (NdArray.ElementCount(shape) == values) return shape;
        }
        else if (rest.Count == natural.Length && rest.Select((d, i) => d.Size is null || d.Size == natural[i]).All(ok => ok))
        {
            return natural;
        }
        throw Mismatch(location,
            $"'{source}' gives samples of shape [{string.Join(",", natural)}] ({values} values) but model input '{input.Name}' " +
            $"is [{string.Join(",", input.Dims)}].");
    }

    /// <summary>Readers decode floats; a float16 input gets them converted, any other type is MB2011.</summary>
    public static void CheckFloat(TensorInfo input, string source, SourceLocation location)
    {
        if (input.ElementType is not (TensorElementType.Float32 or TensorElementType.Float16))
            throw Mismatch(location, $"'{source}' yields float values but model input '{input.Name}' takes {input.ElementType}.");
    }

    public static NdArray ToInputType(TensorInfo input, long[] shape, float[] values) =>
        input.ElementType == TensorElementType.Float16
            ? new NdArray(TensorElementType.Float16, shape, values.Select(v => (Half)v).ToArray())
            : new NdArray(TensorElementType.Float32, shape, values);

    /// <summary>The one input a single-array reader feeds: named, or the model's only input.</summary>
    public static TensorInfo Target(IReadOnlyList<TensorInfo> inputs, string? name, string source, SourceLocation location)
    {
        if (name is not null)
            return inputs.FirstOrDefault(i => i.Name == name) ?? throw Mismatch(location,
                $"'{source}' is to feed input '{name}', but the model's inputs are {string.Join(", ", inputs.Select(i => i.Name))}.");
        if (inputs.Count != 1)
            throw Mismatch(location,
                $"'{source}' feeds one input, but the model takes {inputs.Count} ({string.Join(", ", inputs.Select(i => i.Name))}); " +
                "use an .npz with one array per input.");
        return inputs[0];
    }

    public static ModelBuildException Mismatch(SourceLocation location, string message) =>
        new(DiagnosticCodes.DataMismatch, message, location);

    public static ModelBuildException Unreadable(string file, string what, Exception? inner = null) =>
        new(DiagnosticCodes.DataUnreadable, $"Cannot read '{file}': {what}.", new SourceLocation(file), inner);
}
