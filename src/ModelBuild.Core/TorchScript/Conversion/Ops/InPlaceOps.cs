using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>
/// In-place writes. Into a constant (a mask built in forward) the write lands in the constant. Into a box of step-1
/// slices and selects of a computed tensor (<see cref="ComputedView"/>) the tensor gets a new value: the written box
/// padded into place and chosen by a mask, and every holder of the tensor reads it from then on
/// (<see cref="TensorValue.Rebind"/>). In-place arithmetic on such a box (<c>add_</c> of a slice) writes back the same
/// way (<see cref="WriteBack"/>). A whole computed tensor is not written (it may alias another: a reshape, a chunk),
/// and slices taken before a write keep the old values.
/// </summary>
public static class InPlaceOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Write(c, c.Tensor(0, "self"), c.Arg(1, "value")), "fill_");
        r.Add(c => Write(c, c.Tensor(0, "self"), c.Arg(1, "src")), "copy_");
        r.Add(c => Write(c, c.Tensor(0, "self"), 0L), "zero_");
        r.Add(IndexPutInPlace, "index_put_");
    }

    /// <summary>x[idx] = v on a constant (a mask built in forward), with constant indices and values: folded.</summary>
    private static object IndexPutInPlace(OpCall c)
    {
        var target = c.Tensor(0, "self");
        if (target.Constant is null || target.Rank == 0)
            throw c.Unsupported("writing into a computed tensor in place (x[idx] = v on an activation; only constants " +
                "built in forward() can be written)");
        var updated = IndexedWrite.Apply(c, target.Constant, c.Required(1, "indices"), c.Tensor(2, "values"), c.Bool(3, "accumulate"));
        ConstantView.Of(target).Write(c.G, updated.ToDoubles());
        return target;
    }

    private static object Write(OpCall c, TensorValue target, object? value)
    {
        if (target.Constant is null && target.Rank > 0)
        {
            WriteComputed(c, target, c.E.AsTensor(value, target.Type));
            return target;
        }
        var values = ScalarMath.Unwrap(value) switch
        {
            TensorValue { Constant: { } data } => data.ToDoubles(),
            TensorValue => throw c.Unsupported("writing a computed tensor in place (its value must be known at conversion time)"),
            var number => [ScalarMath.ToDouble(number, c.Op)],
        };
        if (target.Constant is null || target.Rank == 0) throw c.Unsupported("writing into a scalar tensor in place");
        var view = ConstantView.Of(target);
        if (values.Length != 1 && values.Length != target.Constant.Length)
            throw c.Unsupported($"{c.Op} of {values.Length} values into {target.Constant.Length}");
        view.Write(c.G, values);
        return target;
    }

    /// <summary>
    /// After in-place arithmetic (<c>add_</c>, <c>mul_</c>, …) computed functionally: a slice or select of a computed
    /// tensor writes its result back into that tensor, as PyTorch's view would.
    /// </summary>
    public static void WriteBack(OpCall c, TensorValue self, TensorValue result)
    {
        if (self.Constant is null && self.Region is not null && !ReferenceEquals(self, result)) WriteComputed(c, self, result);
    }

    /// <summary>The computed tensor behind <paramref name="target"/> with <paramref name="value"/> in the target's box.</summary>
    private static void WriteComputed(OpCall c, TensorValue target, TensorValue value)
    {
        // A whole computed tensor may itself alias another (a reshape, a chunk): only boxes of slices are written.
        var view = target.Region ?? throw c.Unsupported("writing into a computed tensor in place (only slices and selects of " +
            "one can be written: x[:, 0] = y)");
        if (!view.IsTracked)
            throw c.Unsupported("writing into a slice whose position is not known at conversion time (a step other than 1, " +
                "or part of a dynamic axis)");
        var root = view.Base;
        if (root.Constant is not null)
            throw c.Unsupported("writing a computed value into a constant in place (its value must be known at conversion time)");
        var e = c.E;
        if (value.Type != target.Type) value = e.Cast(value, target.Type);
        // The written values at the target's own shape (a scalar or a broadcastable tensor fills it).
        var written = e.Node("Expand", [value.Name, c.G.ShapeTensor(target.Dims)], target.Type, target.Dims);
        var rank = root.Rank;
        // Selected axes come back as length-1 axes: the box has the base's rank.
        var dropped = Enumerable.Range(0, rank).Where(i => !view.Kept[i]).Select(i => (long)i).ToArray();
        var box = dropped.Length > 0 ? e.Unsqueeze(written, dropped) : written;
        var partial = Enumerable.Range(0, rank).Where(i => view.Start[i] != 0 || view.Count[i] is not null).ToList();
        if (partial.Count == 0)
        {
            root.Rebind(box.Name);
            target.Rebind(written.Name);
            return;
        }
        // Pads put the box in place (before: its start; after: what follows it, read at run time on a dynamic axis);
        // the mask says which positions it covers, one broadcastable vector per axis.
        var before = new List<string>();
        var after = new List<string>();
        TensorValue? mask = null;
        for (var axis = 0; axis < rank; axis++)
        {
            var (start, count) = (view.Start[axis], view.Count[axis]);
            before.Add(c.G.Int64s(start));
            if (!partial.Contains(axis))
            {
                after.Add(c.G.Int64s(0));
                continue;
            }
            var n = new TensorValue(c.G.SizeTensor(root.Dims[axis]), TensorElementType.Int64, [SymInt.Of(1)]);
            after.Add(count is not { } known ? c.G.Int64s(0)
                : root.Dims[axis].Value is { } size ? c.G.Int64s(size - start - known)
                : e.Binary("Sub", n, start + known).Name);
            var positions = e.Node("Range", [c.G.Scalar(0, TensorElementType.Int64), e.Squeeze(n, 0).Name,
                c.G.Scalar(1, TensorElementType.Int64)], TensorElementType.Int64, [root.Dims[axis]]);
            var inside = e.Binary("GreaterOrEqual", positions, start);
            if (count is { } length) inside = e.Binary("And", inside, e.Binary("Less", positions, start + length));
            var along = e.Reshape(inside, Enumerable.Range(0, rank).Select(i => i == axis ? SymInt.Of(-1) : SymInt.Of(1)).ToArray());
            mask = mask is null ? along : e.Binary("And", mask, along);
        }
        var pads = c.G.Node1("Concat", [.. before, .. after], Attr.Int("axis", 0));
        var placed = e.Node("Pad", [box.Name, pads], root.Type,
            root.Dims.Select((d, i) => (SymInt?)d).ToArray());
        var updated = e.Node("Where", [mask!.Name, placed.Name, root.Name], root.Type, root.Dims.Select(d => (SymInt?)d).ToArray());
        root.Rebind(updated.Name);
        target.Rebind(written.Name);
    }
}
