
namespace ModelBuild.Onnx;

/// <summary>A graph input or output as the model declares it: name, element type and shape.</summary>
/// <param name="Dims">One entry per axis: a fixed size, or a named/unnamed dynamic axis.</param>
public sealed record TensorInfo(string Name, TensorElementType ElementType, IReadOnlyList<Dimension> Dims)
{
    /// <summary>The manifest's <c>inputs[].batch_axis</c>: 0 keeps the default, anything else (another axis, or none)
    /// makes the input one that is fed whole rather than sliced into samples.</summary>
    public int? DeclaredBatchAxis { get; init; }

    /// <summary>The first axis is a batch axis when it is dynamic (and the manifest does not say otherwise).</summary>
    public bool HasDynamicBatch => Dims.Count > 0 && Dims[0].IsDynamic && DeclaredBatchAxis is null or 0;

    public override string ToString() => $"{Name}: {ElementType}[{string.Join(",", Dims)}]";
}

/// <summary>What a model takes and returns, read from its ONNX graph (initializers excluded).</summary>
public sealed record ModelInterface(IReadOnlyList<TensorInfo> Inputs, IReadOnlyList<TensorInfo> Outputs);
