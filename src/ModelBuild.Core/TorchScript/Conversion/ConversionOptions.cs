using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>How to convert: the graph's inputs (in forward's tensor-argument order), outputs, opset, and values for
/// forward's non-tensor arguments (flags that pick a branch).</summary>
public sealed class ConversionOptions
{
    public const int MinOpset = 13;
    public const int MaxOpset = 18;

    public required IReadOnlyList<ConversionInput> Inputs { get; init; }

    /// <summary>Names for the graph outputs, in order; missing ones are output0, output1, …</summary>
    public IReadOnlyList<string> OutputNames { get; init; } = [];

    public int Opset { get; init; } = 17;

    /// <summary>Values for forward's bool/int/float arguments, by name; others take their defaults.</summary>
    public IReadOnlyDictionary<string, object?> ConstantArguments { get; init; } = new Dictionary<string, object?>();

    /// <summary>Where errors point (the manifest's source entry).</summary>
    public SourceLocation? Location { get; init; }

    public static ConversionOptions FromManifest(ModelSpec spec) => new()
    {
        Inputs = (spec.Inputs ?? []).Select(i => new ConversionInput(i.Name.Value, i.DType, i.Shape)).ToArray(),
        OutputNames = (spec.Outputs ?? []).Select(o => o.Name.Value).ToArray(),
        Opset = spec.Export.OnnxOpset,
        ConstantArguments = spec.Export.Arguments.ToDictionary(a => a.Key, a => (object?)a.Value, StringComparer.Ordinal),
        Location = spec.Source.Location,
    };
}

/// <summary>One graph input: its name, element type and shape (named dynamic axes become dim_param).</summary>
public sealed record ConversionInput(string Name, TensorElementType Type, IReadOnlyList<Dimension> Shape);
