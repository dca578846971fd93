using ModelBuild.Data;
using static TorchSharp.torch;
using ModelBuild.Onnx;

namespace ModelBuild.Torch;

/// <summary>Copies between <see cref="NdArray"/> and TorchSharp tensors (CPU, contiguous).</summary>
internal static class TorchTensors
{
    // On ElementType, not on the array's type: .NET lets sbyte[] pass as byte[], which would make int8 data uint8.
    public static Tensor ToTensor(NdArray a) => a.ElementType switch
    {
        TensorElementType.Float32 => tensor((float[])a.Data, a.Shape),
        TensorElementType.Float64 => tensor((double[])a.Data, a.Shape),
        TensorElementType.Int64 => tensor((long[])a.Data, a.Shape),
        TensorElementType.Int32 => tensor((int[])a.Data, a.Shape),
        TensorElementType.UInt8 => tensor((byte[])a.Data, a.Shape),
        TensorElementType.Bool => tensor((bool[])a.Data, a.Shape),
        TensorElementType.Int8 => tensor(((sbyte[])a.Data).Select(v => (int)v).ToArray(), a.Shape).to(int8),
        TensorElementType.Float16 => tensor(((Half[])a.Data).Select(v => (float)v).ToArray(), a.Shape).to(float16),
        _ => throw new NotSupportedException($"{a.ElementType} inputs are not supported"),
    };

    public static NdArray ToNdArray(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        var shape = c.shape.ToArray();
        switch (c.dtype)
        {
            case ScalarType.Float32: return new NdArray(TensorElementType.Float32, shape, c.data<float>().ToArray());
            case ScalarType.Float64: return new NdArray(TensorElementType.Float64, shape, c.data<double>().ToArray());
            case ScalarType.Int64: return new NdArray(TensorElementType.Int64, shape, c.data<long>().ToArray());
            case ScalarType.Int32: return new NdArray(TensorElementType.Int32, shape, c.data<int>().ToArray());
            case ScalarType.Byte: return new NdArray(TensorElementType.UInt8, shape, c.data<byte>().ToArray());
            case ScalarType.Bool: return new NdArray(TensorElementType.Bool, shape, c.data<bool>().ToArray());
            case ScalarType.Int8:
                using (var w = c.to(int32))
                    return new NdArray(TensorElementType.Int8, shape, w.data<int>().ToArray().Select(v => (sbyte)v).ToArray());
            case ScalarType.Float16:
                using (var w = c.to(float32))
                    return new NdArray(TensorElementType.Float16, shape, w.data<float>().ToArray().Select(v => (Half)v).ToArray());
            default: throw new NotSupportedException($"output dtype {c.dtype} is not supported");
        }
    }

    /// <summary>
    /// A forward result as a flat list of arrays: tensors, tuples (TorchSharp returns ValueTuples) and lists, in order.
    /// <paramref name="producer"/> names what returned it, for the error on anything else.
    /// </summary>
    public static List<NdArray> FlattenOutputs(object? value, string producer, Diagnostics.SourceLocation? location)
    {
        var into = new List<NdArray>();
        Flatten(value, into, producer, location);
        return into;
    }

    private static void Flatten(object? value, List<NdArray> into, string producer, Diagnostics.SourceLocation? location)
    {
        switch (value)
        {
            case Tensor t: into.Add(ToNdArray(t)); break;
            // None inside a tuple (an Optional output such as GoogLeNet's aux logits in eval) is no output; the
            // converter skips it too.
            case System.Runtime.CompilerServices.ITuple tuple:
                for (var i = 0; i < tuple.Length; i++)
                    if (tuple[i] is not null) Flatten(tuple[i], into, producer, location);
                break;
            case System.Collections.IEnumerable items when value is not string:
                foreach (var item in items)
                    if (item is not null) Flatten(item, into, producer, location);
                break;
            default:
                throw new Diagnostics.ModelBuildException(Diagnostics.DiagnosticCodes.ModelInterfaceMismatch,
                    $"{producer} returned a {value?.GetType().Name ?? "None"}; only tensors and tuples/lists of tensors are supported", location);
        }
    }
}
