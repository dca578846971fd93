using ModelBuild.Onnx;

namespace ModelBuild.Data;

/// <summary>
/// A dense, row-major n-dimensional array: what data files hold and what models take and return.
/// The backing store is a flat .NET array whose element type matches <see cref="ElementType"/>
/// (float[], Half[], long[], int[], byte[], bool[]).
/// </summary>
public sealed class NdArray
{
    public NdArray(TensorElementType elementType, long[] shape, Array data)
    {
        var expected = ElementCount(shape);
        if (data.LongLength != expected)
            throw new ArgumentException($"Shape [{string.Join(",", shape)}] needs {expected} elements, got {data.LongLength}.");
        if (data.GetType().GetElementType() != ClrType(elementType))
            throw new ArgumentException($"A {elementType} array needs {ClrType(elementType).Name}[] storage, got {data.GetType().Name}.");
        ElementType = elementType;
        Shape = shape;
        Data = data;
    }

    public TensorElementType ElementType { get; }
    public long[] Shape { get; }
    public Array Data { get; }
    public long Length => Data.LongLength;

    public static NdArray Of(float[] data, params long[] shape) => new(TensorElementType.Float32, shape, data);
    public static NdArray Of(long[] data, params long[] shape) => new(TensorElementType.Int64, shape, data);

    public T[] As<T>() => Data as T[] ?? throw new InvalidCastException($"Array holds {ElementType}, not {typeof(T).Name}.");

    /// <summary>Rows [start, start+count) along the first axis, copied.</summary>
    public NdArray Slice(long start, long count)
    {
        if (Shape.Length == 0) throw new InvalidOperationException("Cannot slice a scalar.");
        var rowSize = Shape.Length == 1 ? 1 : ElementCount(Shape[1..]);
        var dest = Array.CreateInstance(Data.GetType().GetElementType()!, count * rowSize);
        Array.Copy(Data, start * rowSize, dest, 0, count * rowSize);
        var shape = (long[])Shape.Clone();
        shape[0] = count;
        return new NdArray(ElementType, shape, dest);
    }

    /// <summary>The values as doubles, for metrics and comparisons.</summary>
    public double[] ToDoubles()
    {
        var result = new double[Length];
        // On ElementType, not on the array's type: .NET lets sbyte[] pass as byte[] (and back), so a `case byte[]`
        // would read int8 values as unsigned.
        switch (ElementType)
        {
            case TensorElementType.Float32: var f = (float[])Data; for (var i = 0; i < f.Length; i++) result[i] = f[i]; break;
            case TensorElementType.Float16: var h = (Half[])Data; for (var i = 0; i < h.Length; i++) result[i] = (double)h[i]; break;
            case TensorElementType.Float64: Array.Copy((double[])Data, result, Length); break;
            case TensorElementType.Int64: var l = (long[])Data; for (var i = 0; i < l.Length; i++) result[i] = l[i]; break;
            case TensorElementType.Int32: var n = (int[])Data; for (var i = 0; i < n.Length; i++) result[i] = n[i]; break;
            case TensorElementType.UInt8: var b = (byte[])Data; for (var i = 0; i < b.Length; i++) result[i] = b[i]; break;
            case TensorElementType.Int8: var sb = (sbyte[])Data; for (var i = 0; i < sb.Length; i++) result[i] = sb[i]; break;
            case TensorElementType.Bool: var z = (bool[])Data; for (var i = 0; i < z.Length; i++) result[i] = z[i] ? 1 : 0; break;
            default: throw new NotSupportedException(ElementType.ToString());
        }
        return result;
    }

    /// <summary>
    /// The same values as float32 or float16 (rounded to nearest). Only floats convert: an fp16 artifact built
    /// without keep_io_types takes and returns float16 where the source model has float32.
    /// </summary>
    public NdArray ToFloatType(TensorElementType target)
    {
        if (target == ElementType) return this;
        return (Data, target) switch
        {
            (float[] f, TensorElementType.Float16) => new NdArray(target, Shape, Array.ConvertAll(f, v => (Half)v)),
            (Half[] h, TensorElementType.Float32) => new NdArray(target, Shape, Array.ConvertAll(h, v => (float)v)),
            _ => throw new NotSupportedException($"Cannot convert {ElementType} to {target}."),
        };
    }

    /// <summary>The inverse of <see cref="ToDoubles"/>: values converted to the element type (integers truncate).</summary>
    public static NdArray FromDoubles(TensorElementType type, long[] shape, double[] values)
    {
        Array data = type switch
        {
            TensorElementType.Float32 => Array.ConvertAll(values, v => (float)v),
            TensorElementType.Float16 => Array.ConvertAll(values, v => (Half)v),
            TensorElementType.Float64 => (double[])values.Clone(),
            TensorElementType.Int64 => Array.ConvertAll(values, v => (long)v),
            TensorElementType.Int32 => Array.ConvertAll(values, v => (int)v),
            TensorElementType.UInt8 => Array.ConvertAll(values, v => (byte)v),
            TensorElementType.Int8 => Array.ConvertAll(values, v => (sbyte)v),
            TensorElementType.Bool => Array.ConvertAll(values, v => v != 0),
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        return new NdArray(type, shape, data);
    }

    public static long ElementCount(IEnumerable<long> shape) => shape.Aggregate(1L, (a, b) => checked(a * b));

    public static Type ClrType(TensorElementType type) => type switch
    {
        TensorElementType.Float32 => typeof(float),
        TensorElementType.Float16 => typeof(Half),
        TensorElementType.Int64 => typeof(long),
        TensorElementType.Int32 => typeof(int),
        TensorElementType.UInt8 => typeof(byte),
        TensorElementType.Bool => typeof(bool),
        TensorElementType.Float64 => typeof(double),
        TensorElementType.Int8 => typeof(sbyte),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public override string ToString() => $"{ElementType}[{string.Join(",", Shape)}]";
}
