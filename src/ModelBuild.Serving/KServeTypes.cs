using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>KServe v2 datatype names (FP32, INT64, ...) for the tensor types ModelBuild serves.</summary>
public static class KServeTypes
{
    /// <summary>The binary tensor data extension's header: how many bytes of the body are the JSON part.</summary>
    public const string InferenceHeaderLength = "Inference-Header-Content-Length";

    public static string Name(TensorType type) => type switch
    {
        TensorType.Float32 => "FP32",
        TensorType.Float16 => "FP16",
        TensorType.Float64 => "FP64",
        TensorType.Int64 => "INT64",
        TensorType.Int32 => "INT32",
        TensorType.Int8 => "INT8",
        TensorType.UInt8 => "UINT8",
        TensorType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public static TensorType? Parse(string name) => name switch
    {
        "FP32" => TensorType.Float32,
        "FP16" => TensorType.Float16,
        "FP64" => TensorType.Float64,
        "INT64" => TensorType.Int64,
        "INT32" => TensorType.Int32,
        "INT8" => TensorType.Int8,
        "UINT8" => TensorType.UInt8,
        "BOOL" => TensorType.Bool,
        _ => null,
    };
}
