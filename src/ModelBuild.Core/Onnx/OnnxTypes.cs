using static Onnx.TensorProto.Types;

namespace ModelBuild.Onnx;

/// <summary>Maps ONNX element types (TensorProto.DataType) to ModelBuild's.</summary>
public static class OnnxTypes
{
    public static TensorElementType? FromOnnx(int dataType) => (DataType)dataType switch
    {
        DataType.Float => TensorElementType.Float32,
        DataType.Float16 => TensorElementType.Float16,
        DataType.Double => TensorElementType.Float64,
        DataType.Int64 => TensorElementType.Int64,
        DataType.Int32 => TensorElementType.Int32,
        DataType.Int8 => TensorElementType.Int8,
        DataType.Uint8 => TensorElementType.UInt8,
        DataType.Bool => TensorElementType.Bool,
        _ => null,
    };

    public static int ToOnnx(TensorElementType type) => (int)(type switch
    {
        TensorElementType.Float32 => DataType.Float,
        TensorElementType.Float16 => DataType.Float16,
        TensorElementType.Float64 => DataType.Double,
        TensorElementType.Int64 => DataType.Int64,
        TensorElementType.Int32 => DataType.Int32,
        TensorElementType.Int8 => DataType.Int8,
        TensorElementType.UInt8 => DataType.Uint8,
        TensorElementType.Bool => DataType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    });

    public static string OnnxName(int dataType) => ((DataType)dataType).ToString().ToLowerInvariant();

    public static string ManifestName(TensorElementType type) => type.ToString().ToLowerInvariant();

    /// <summary>A graph input or output declaration: fixed sizes as values, dynamic ones by their symbol ("batch" when unnamed).</summary>
    public static global::Onnx.ValueInfoProto ValueInfo(TensorInfo t)
    {
        var shape = new global::Onnx.TensorShapeProto();
        foreach (var d in t.Dims)
            shape.Dim.Add(d.Size is { } size ? new global::Onnx.TensorShapeProto.Types.Dimension { DimValue = size }
                : new global::Onnx.TensorShapeProto.Types.Dimension { DimParam = string.IsNullOrEmpty(d.Symbol) ? "batch" : d.Symbol });
        return new global::Onnx.ValueInfoProto
        {
            Name = t.Name,
            Type = new global::Onnx.TypeProto
            {
                TensorType = new global::Onnx.TypeProto.Types.Tensor { ElemType = ToOnnx(t.ElementType), Shape = shape },
            },
        };
    }
}
