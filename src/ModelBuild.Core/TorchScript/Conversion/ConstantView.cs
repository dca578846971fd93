using ModelBuild.Data;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// A strided box inside a constant tensor: what a chain of slices of that constant reads. Traced code builds masks
/// by writing into slices of a fresh tensor (<c>fill_(slice(slice(mask, 0, a, b), 1, c, d), k)</c>, as Swin's shifted
/// windows do); with the box known, the write lands in the constant and its initializer is rewritten, so the mask
/// stays a constant.
/// </summary>
public sealed class ConstantView(TensorValue baseTensor, long[] start, long[] step, long[] count)
{
    public TensorValue Base { get; } = baseTensor;
    public long[] Start { get; } = start;
    public long[] Step { get; } = step;
    public long[] Count { get; } = count;

    /// <summary>The slice of a constant as a constant of its own, remembering where it lies in the root constant.</summary>
    public static TensorValue Slice(Emitter e, TensorValue x, NdArray data, int axis, long start, long step, long count)
    {
        var parent = x.View ?? new ConstantView(x, new long[x.Rank], Enumerable.Repeat(1L, x.Rank).ToArray(), data.Shape.ToArray());
        var view = new ConstantView(parent.Base,
            parent.Start.Select((s, i) => i == axis ? s + start * parent.Step[i] : s).ToArray(),
            parent.Step.Select((s, i) => i == axis ? s * step : s).ToArray(),
            parent.Count.Select((c, i) => i == axis ? count : c).ToArray());
        var values = view.Read();
        var sliced = e.Constant(NdArray.FromDoubles(data.ElementType, view.Count, values));
        return new TensorValue(sliced.Name, sliced.Type, sliced.Dims, sliced.Constant) { View = view };
    }

    private double[] Read()
    {
        var source = Base.Constant!.ToDoubles();
        var result = new double[NdArray.ElementCount(Count)];
        var k = 0;
        foreach (var offset in Offsets()) result[k++] = source[offset];
        return result;
    }

    /// <summary>Writes values (broadcast from a scalar or of the view's own size) into the root constant and rewrites its
    /// initializer. Returns the updated root.</summary>
    public void Write(GraphBuilder graph, double[] values)
    {
        var data = Base.Constant!;
        var all = data.ToDoubles();
        var k = 0;
        foreach (var offset in Offsets()) all[offset] = values.Length == 1 ? values[0] : values[k++];
        var updated = NdArray.FromDoubles(data.ElementType, data.Shape, all);
        Array.Copy(updated.Data, data.Data, data.Length);
        graph.ReplaceInitializer(Base.Name, data);
    }

    private IEnumerable<long> Offsets()
    {
        var shape = Base.Constant!.Shape;
        var strides = new long[shape.Length];
        for (long i = shape.Length - 1, s = 1; i >= 0; s *= shape[i], i--) strides[i] = s;
        var index = new long[Count.Length];
        var total = NdArray.ElementCount(Count);
        for (long n = 0; n < total; n++)
        {
            long offset = 0;
            for (var i = 0; i < index.Length; i++) offset += (Start[i] + index[i] * Step[i]) * strides[i];
            yield return offset;
            for (var i = index.Length - 1; i >= 0; i--)
            {
                if (++index[i] < Count[i]) break;
                index[i] = 0;
            }
        }
    }
}
