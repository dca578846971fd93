namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// What a chain of step-1 slices and selects of a computed tensor reads, in that tensor's coordinates, so an in-place
/// write through it (<c>copy_(slice(slice(attn, 2, 1), 3, 1), x)</c>, MViT's relative position bias; <c>x[:, 0] = y</c>)
/// can be written as a new value of the whole tensor: the written box padded into place and chosen by a mask.
/// Per base axis: the box's start, its length (null: to the end of the axis, which may be dynamic) and whether a
/// select dropped the axis from the view.
/// </summary>
public sealed class ComputedView(TensorValue baseTensor, long[] start, long?[] count, bool[] kept)
{
    public TensorValue Base { get; } = baseTensor;
    public long[] Start { get; } = start;
    public long?[] Count { get; } = count;
    public bool[] Kept { get; } = kept;

    /// <summary>A slice whose box cannot be told at conversion time (a step other than 1, part of a dynamic axis).</summary>
    public static ComputedView Untracked { get; } = new(new TensorValue("", Onnx.TensorElementType.Float32, []), [], [], []);

    public bool IsTracked => !ReferenceEquals(this, Untracked);

    /// <summary>The view of all of <paramref name="tensor"/>: its own view when it is already one.</summary>
    public static ComputedView Of(TensorValue tensor) => tensor.Region is { IsTracked: true } region ? region : new ComputedView(tensor, new long[tensor.Rank],
        new long?[tensor.Rank], Enumerable.Repeat(true, tensor.Rank).ToArray());

    /// <summary>slice(view, axis, start, end, 1), null when the box cannot be told at conversion time.</summary>
    public ComputedView? Narrow(long viewAxis, long start, long end)
    {
        var axis = BaseAxis(viewAxis);
        var length = Count[axis] ?? (Base.Dims[axis].Value - Start[axis]);
        if (length is not { } n)
        {
            // Along a dynamic axis only x[start:] can be placed without its length: from start to the end.
            if (end < long.MaxValue / 2 || start < 0) return null;
            return start == 0 ? this : With(axis, Start[axis] + start, null, keep: true);
        }
        long s = start < 0 ? Math.Max(0, start + n) : Math.Min(start, n);
        long e = end < 0 ? Math.Max(0, end + n) : Math.Min(end, n);
        return With(axis, Start[axis] + s, Math.Max(0, e - s), keep: true);
    }

    /// <summary>select(view, axis, index), null when the axis length is not known for a negative index.</summary>
    public ComputedView? Pick(long viewAxis, long index)
    {
        var axis = BaseAxis(viewAxis);
        if (index < 0)
        {
            if ((Count[axis] ?? Base.Dims[axis].Value - Start[axis]) is not { } n) return null;
            index += n;
        }
        return With(axis, Start[axis] + index, 1, keep: false);
    }

    private ComputedView With(int axis, long start, long? count, bool keep) => new(Base,
        Start.Select((s, i) => i == axis ? start : s).ToArray(),
        Count.Select((c, i) => i == axis ? count : c).ToArray(),
        Kept.Select((k, i) => i == axis ? keep : k).ToArray());

    /// <summary>The base axis the view's <paramref name="viewAxis"/>-th axis is (selected axes are not in the view).</summary>
    private int BaseAxis(long viewAxis)
    {
        var kept = Enumerable.Range(0, Kept.Length).Where(i => Kept[i]).ToList();
        return kept[(int)TensorValue.NormalizeAxis(viewAxis, kept.Count)];
    }
}
