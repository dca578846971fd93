using ModelBuild.Diagnostics;
using Onnx;

namespace ModelBuild.Onnx;

/// <summary>Reads a model's real inputs and outputs from its graph.</summary>
public static class ModelInterfaceReader
{
    public static ModelInterface Read(ModelProto model, SourceLocation location)
    {
        var initializers = model.Graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        // Before IR 4, initializers were also listed as graph inputs; they are weights, not inputs.
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).Select(v => ToTensorInfo(v, location)).ToList();
        var outputs = model.Graph.Output.Select(v => ToTensorInfo(v, location)).ToList();
        return new ModelInterface(inputs, outputs);
    }

    private static TensorInfo ToTensorInfo(ValueInfoProto value, SourceLocation location)
    {
        if (value.Type?.TensorType is not { } tensor)
            throw new ModelBuildException(DiagnosticCodes.ModelInvalid,
                $"graph input/output '{value.Name}' is not a tensor; only tensor inputs and outputs are supported", location);
        var elementType = OnnxTypes.FromOnnx(tensor.ElemType)
            ?? throw new ModelBuildException(DiagnosticCodes.ModelInvalid,
                $"'{value.Name}' has element type {OnnxTypes.OnnxName(tensor.ElemType)}, which ModelBuild does not support", location);
        var dims = tensor.Shape?.Dim.Select(d =>
            d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0
                ? Dimension.Fixed(d.DimValue)
                : Dimension.Dynamic(d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? d.DimParam : ""))
            .ToList() ?? new List<Dimension>();
        return new TensorInfo(value.Name, elementType, dims);
    }
}
