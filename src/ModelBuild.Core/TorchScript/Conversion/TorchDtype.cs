using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// PyTorch's ScalarType codes as saved code writes them (dtype=6 is float32) and as <c>ops.prim.dtype(x)</c> yields
/// them, so scripted code can compare dtypes (<c>mask.dtype != torch.bool</c> is <c>torch.ne(dtype, 11)</c>).
/// </summary>
public static class TorchDtype
{
    /// <summary>The element type a dtype argument names; null for None (the op's default).</summary>
    public static TensorElementType? ElementType(object? code) => code switch
    {
        null => null,
        OpaqueValue => null,
        _ => ScalarMath.ToLong(code, "dtype") switch
        {
            0 => TensorElementType.UInt8,
            1 => TensorElementType.Int8,
            3 => TensorElementType.Int32,
            4 => TensorElementType.Int64,
            5 => TensorElementType.Float16,
            6 => TensorElementType.Float32,
            7 => TensorElementType.Float64,
            11 => TensorElementType.Bool,
            var other => throw new ConversionError($"unsupported dtype code {other}"),
        },
    };

    public static long Code(TensorElementType type) => type switch
    {
        TensorElementType.UInt8 => 0,
        TensorElementType.Int8 => 1,
        TensorElementType.Int32 => 3,
        TensorElementType.Int64 => 4,
        TensorElementType.Float16 => 5,
        TensorElementType.Float32 => 6,
        TensorElementType.Float64 => 7,
        TensorElementType.Bool => 11,
        _ => throw new ConversionError($"no PyTorch dtype for {type}"),
    };
}
