using ModelBuild.Data;
using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>
/// index_put semantics on known values: index tensors for the leading axes (broadcast together) pick positions,
/// values broadcast to [index shape…, remaining axes…] are written (or added, with accumulate). Used to fold writes
/// into constants; <see cref="IndexingOps"/> emits ScatterND for computed tensors.
/// </summary>
public static class IndexedWrite
{
    public static NdArray Apply(OpCall c, NdArray data, object? indicesArg, TensorValue values, bool accumulate)
    {
        var indices = LeadingIndices(c, indicesArg);
        var source = values.Constant ?? throw c.Unsupported("index_put with computed values into a constant");
        var shape = data.Shape;
        var (broadcast, coordinates) = Coordinates(c, indices, shape);
        var rest = shape.Skip(indices.Count).ToArray();
        var restCount = NdArray.ElementCount(rest);
        var strides = Strides(shape);
        var result = data.ToDoubles();
        var v = source.ToDoubles();
        var updateShape = broadcast.Concat(rest).ToArray();
        var positions = NdArray.ElementCount(broadcast);
        for (long p = 0; p < positions; p++)
        {
            long offset = 0;
            for (var k = 0; k < indices.Count; k++) offset += coordinates[p * indices.Count + k] * strides[k];
            for (long r = 0; r < restCount; r++)
            {
                var value = v[BroadcastIndex(p * restCount + r, updateShape, source.Shape)];
                result[offset + r] = accumulate ? result[offset + r] + value : value;
            }
        }
        return NdArray.FromDoubles(data.ElementType, shape, result);
    }

    /// <summary>The index tensors, which must be constants for the leading axes (no None before one).</summary>
    public static List<NdArray> LeadingIndices(OpCall c, object? indicesArg)
    {
        var list = Interpreter.Items(indicesArg, "read the indices of " + c.Op);
        var result = new List<NdArray>();
        foreach (var item in list)
        {
            if (item is null) throw c.Unsupported("index_put with None before an index tensor");
            var t = item as TensorValue ?? c.E.AsTensor(item, TensorElementType.Int64);
            if (t.Constant is not { } known) throw c.Unsupported("index_put with computed indices (their positions depend on the data)");
            if (known.ElementType is TensorElementType.Bool or TensorElementType.UInt8) throw c.Unsupported("index_put with a boolean mask");
            result.Add(known);
        }
        return result;
    }

    /// <summary>The index tensors broadcast together, as [positions × k] coordinates (negative indices normalized, checked
    /// against the first k of <paramref name="sizes"/>).</summary>
    public static (long[] Shape, long[] Coordinates) Coordinates(OpCall c, IReadOnlyList<NdArray> indices, IReadOnlyList<long> sizes)
    {
        var broadcast = indices.Select(i => i.Shape).Aggregate(BroadcastShape);
        var positions = NdArray.ElementCount(broadcast);
        var values = indices.Select(i => i.ToDoubles()).ToArray();
        var result = new long[positions * indices.Count];
        for (long p = 0; p < positions; p++)
            for (var k = 0; k < indices.Count; k++)
            {
                var index = (long)values[k][BroadcastIndex(p, broadcast, indices[k].Shape)];
                if (index < 0) index += sizes[k];
                if (index < 0 || index >= sizes[k]) throw c.Unsupported($"index {index} out of range for axis {k} of size {sizes[k]}");
                result[p * indices.Count + k] = index;
            }
        return (broadcast, result);
    }

    public static long[] BroadcastShape(long[] a, long[] b)
    {
        var rank = Math.Max(a.Length, b.Length);
        var result = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var x = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            var y = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            result[i] = x == 1 ? y : x;
        }
        return result;
    }

    private static long[] Strides(long[] shape)
    {
        var strides = new long[shape.Length];
        for (long i = shape.Length - 1, s = 1; i >= 0; s *= shape[i], i--) strides[i] = s;
        return strides;
    }

    /// <summary>The flat index into an array of <paramref name="shape"/> that element <paramref name="flat"/> of the
    /// broadcast <paramref name="full"/> shape reads (numpy broadcasting: trailing axes align, size-1 axes repeat).</summary>
    private static long BroadcastIndex(long flat, long[] full, long[] shape)
    {
        long index = 0, stride = 1;
        for (int i = full.Length - 1, j = shape.Length - 1; i >= 0; i--, j--)
        {
            var coordinate = flat % full[i];
            flat /= full[i];
            if (j < 0) continue;
            if (shape[j] != 1) index += coordinate * stride;
            stride *= shape[j];
        }
        return index;
    }
}
