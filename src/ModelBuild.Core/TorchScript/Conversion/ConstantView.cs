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

    /// <summary>The box a constant reads: its own view when it is a slice of another constant, else all of it.</summary>
    public static ConstantView Of(TensorValue constant) =>
        constant.View ?? new ConstantView(constant, new long[constant.Rank], Enumerable.Repeat(1L, constant.Rank).ToArray(),
            constant.Constant!.Shape.ToArray());

    /// <summary>
    /// The view narrowed along one axis to <paramref name="count"/> entries from <paramref name="start"/> by <paramref name="step"/>.
    /// </summary>
    public ConstantView Narrow(int axis, long start, long step, long count) => new(Base,
        Start.Select((s, i) => i == axis ? s + start * Step[i] : s).ToArray(),
        Step.Select((s, i) => i == axis ? s * step : s).ToArray(),
        Count.Select((c, i) => i == axis ? count : c).ToArray());

    /// <summary>The values the view reads from the root constant, in order.</summary>
    public double[] Read()
    {
        var source = Base.Constant!.ToDoubles();
        var result = new double[NdArray.ElementCount(Count)];
        var k = 0;
        foreach (var offset in Offsets()) result[k++] = source[offset];
        return result;
    }

    /// <summary>Writes values (broadcast from a scalar or of the view's own size) into the root constant and rewrites its
    /// initializer.</summary>
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
