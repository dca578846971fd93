namespace ModelBuild.Runtime;

/// <summary>Element types a deployed model's inputs and outputs may have, and the .NET array each one uses.</summary>
public enum TensorType
{
    /// <summary>float32, held in <see cref="float"/>[].</summary>
    Float32,
    /// <summary>float16, held in <see cref="Half"/>[].</summary>
    Float16,
    /// <summary>float64, held in <see cref="double"/>[].</summary>
    Float64,
    /// <summary>int64, held in <see cref="long"/>[].</summary>
    Int64,
    /// <summary>int32, held in <see cref="int"/>[].</summary>
    Int32,
    /// <summary>int8, held in <see cref="sbyte"/>[].</summary>
    Int8,
    /// <summary>uint8, held in <see cref="byte"/>[].</summary>
    UInt8,
    /// <summary>bool, held in <see cref="bool"/>[].</summary>
    Bool,
}

/// <summary>Names and element sizes of <see cref="TensorType"/>.</summary>
public static class TensorTypes
{
    /// <summary>The element type of a .NET array, or null when no tensor type uses it.</summary>
    /// <remarks>
    /// Matched on the exact array type: the runtime lets a byte[] pass as sbyte[] (and back), so type patterns would
    /// call uint8 data int8, or the reverse, depending on the order of the cases.
    /// </remarks>
    public static TensorType? Of(Array data) => data.GetType() switch
    {
        var t when t == typeof(float[]) => TensorType.Float32,
        var t when t == typeof(Half[]) => TensorType.Float16,
        var t when t == typeof(double[]) => TensorType.Float64,
        var t when t == typeof(long[]) => TensorType.Int64,
        var t when t == typeof(int[]) => TensorType.Int32,
        var t when t == typeof(sbyte[]) => TensorType.Int8,
        var t when t == typeof(byte[]) => TensorType.UInt8,
        var t when t == typeof(bool[]) => TensorType.Bool,
        _ => null,
    };

    /// <summary>A new zeroed array for <paramref name="length"/> elements of <paramref name="type"/>.</summary>
    public static Array NewArray(TensorType type, int length) => type switch
    {
        TensorType.Float32 => new float[length],
        TensorType.Float16 => new Half[length],
        TensorType.Float64 => new double[length],
        TensorType.Int64 => new long[length],
        TensorType.Int32 => new int[length],
        TensorType.Int8 => new sbyte[length],
        TensorType.UInt8 => new byte[length],
        TensorType.Bool => new bool[length],
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>Bytes per element.</summary>
    public static int ElementSize(TensorType type) => type switch
    {
        TensorType.Float32 or TensorType.Int32 => 4,
        TensorType.Float16 => 2,
        TensorType.Float64 or TensorType.Int64 => 8,
        _ => 1,
    };

    /// <summary>The manifest's spelling: float32, int64, ...</summary>
    public static string Name(TensorType type) => type.ToString().ToLowerInvariant();
}
