using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace ModelBuild.Onnx;

/// <summary>Reads and builds <see cref="TensorProto"/> values (raw_data or typed fields), as passes need them.</summary>
public static class TensorData
{
    public const int Float = (int)TensorProto.Types.DataType.Float;
    public const int Float16 = (int)TensorProto.Types.DataType.Float16;
    public const int Int8 = (int)TensorProto.Types.DataType.Int8;
    public const int UInt8 = (int)TensorProto.Types.DataType.Uint8;
    public const int Int32 = (int)TensorProto.Types.DataType.Int32;
    public const int Int64 = (int)TensorProto.Types.DataType.Int64;
    public const int Double = (int)TensorProto.Types.DataType.Double;
    public const int Bool = (int)TensorProto.Types.DataType.Bool;

    public static long Count(TensorProto t) => t.Dims.Aggregate(1L, (a, b) => a * b);

    public static float[] ToFloats(TensorProto t)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            throw new NotSupportedException($"tensor '{t.Name}' keeps its data in an external file");
        switch (t.DataType)
        {
            case Float:
                return t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : t.FloatData.ToArray();
            case Float16:
                if (t.RawData.Length > 0) return MemoryMarshal.Cast<byte, Half>(t.RawData.Span).ToArray().Select(h => (float)h).ToArray();
                return t.Int32Data.Select(v => (float)BitConverter.UInt16BitsToHalf((ushort)v)).ToArray();
            case Double:
                return (t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, double>(t.RawData.Span).ToArray() : t.DoubleData.ToArray())
                    .Select(d => (float)d).ToArray();
            default:
                throw new NotSupportedException($"tensor '{t.Name}' has data type {t.DataType}, not a float type");
        }
    }

    public static long[] ToInt64s(TensorProto t) => t.DataType switch
    {
        Int64 => t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray() : t.Int64Data.ToArray(),
        Int32 => (t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, int>(t.RawData.Span).ToArray() : t.Int32Data.ToArray())
            .Select(v => (long)v).ToArray(),
        _ => throw new NotSupportedException($"tensor '{t.Name}' has data type {t.DataType}, not an integer type"),
    };

    public static TensorProto FromFloats(string name, IEnumerable<long> dims, float[] values) =>
        Raw(name, Float, dims, MemoryMarshal.AsBytes(values.AsSpan()));

    public static TensorProto FromHalfs(string name, IEnumerable<long> dims, Half[] values) =>
        Raw(name, Float16, dims, MemoryMarshal.AsBytes(values.AsSpan()));

    public static TensorProto FromInt8s(string name, IEnumerable<long> dims, sbyte[] values) =>
        Raw(name, Int8, dims, MemoryMarshal.AsBytes(values.AsSpan()));

    public static TensorProto FromUInt8s(string name, IEnumerable<long> dims, byte[] values) => Raw(name, UInt8, dims, values);

    public static TensorProto FromInt32s(string name, IEnumerable<long> dims, int[] values) =>
        Raw(name, Int32, dims, MemoryMarshal.AsBytes(values.AsSpan()));

    public static TensorProto FromInt64s(string name, IEnumerable<long> dims, long[] values) =>
        Raw(name, Int64, dims, MemoryMarshal.AsBytes(values.AsSpan()));

    private static TensorProto Raw(string name, int type, IEnumerable<long> dims, ReadOnlySpan<byte> bytes)
    {
        var t = new TensorProto { Name = name, DataType = type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }
}
