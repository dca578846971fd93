using ModelBuild.Manifest;

namespace ModelBuild.Onnx;

/// <summary>A graph input or output as the model declares it: name, element type and shape.</summary>
/// <param name="Dims">One entry per axis: a fixed size, or a named/unnamed dynamic axis.</param>
public sealed record TensorInfo(string Name, TensorElementType ElementType, IReadOnlyList<Dimension> Dims)
{
    /// <summary>The first axis is a batch axis when it is dynamic.</summary>
    public bool HasDynamicBatch => Dims.Count > 0 && Dims[0].IsDynamic;

    public override string ToString() => $"{Name}: {ElementType}[{string.Join(",", Dims)}]";
}

/// <summary>What a model takes and returns, read from its ONNX graph (initializers excluded).</summary>
public sealed record ModelInterface(IReadOnlyList<TensorInfo> Inputs, IReadOnlyList<TensorInfo> Outputs);
