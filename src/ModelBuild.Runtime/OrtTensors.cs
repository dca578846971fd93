using Microsoft.ML.OnnxRuntime;

namespace ModelBuild.Runtime;

/// <summary>
/// A managed array as an ONNX Runtime tensor over the same memory (Half copied to ORT's Float16): the one conversion
/// behind <see cref="DeployedModel"/> and the build's own model runner (ModelBuild.Core).
/// </summary>
internal static class OrtTensors
{
    /// <returns>Null for an element type ONNX Runtime tensors do not take from .NET here.</returns>
    public static OrtValue? From(Array data, long[] shape) => TensorTypes.Of(data) switch
    {
        TensorType.Float32 => OrtValue.CreateTensorValueFromMemory((float[])data, shape),
        TensorType.Float64 => OrtValue.CreateTensorValueFromMemory((double[])data, shape),
        TensorType.Int64 => OrtValue.CreateTensorValueFromMemory((long[])data, shape),
        TensorType.Int32 => OrtValue.CreateTensorValueFromMemory((int[])data, shape),
        TensorType.Int8 => OrtValue.CreateTensorValueFromMemory((sbyte[])data, shape),
        TensorType.UInt8 => OrtValue.CreateTensorValueFromMemory((byte[])data, shape),
        TensorType.Bool => OrtValue.CreateTensorValueFromMemory((bool[])data, shape),
        TensorType.Float16 =>
            OrtValue.CreateTensorValueFromMemory(Array.ConvertAll((Half[])data, x => new Float16(BitConverter.HalfToUInt16Bits(x))), shape),
        _ => null,
    };
}
