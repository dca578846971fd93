using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>Shape and layout ops: flatten/view/reshape keep the batch dynamic (0 copies an axis, -1 infers one),
/// permute/transpose, (un)squeeze, cat/stack/chunk/split, slice/select, dtype casts and identities.</summary>
public static class ShapeOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(Flatten, "flatten");
        r.Add(c => c.E.Reshape(c.Tensor(0, "self"), c.Sizes(1, "size")), "view", "reshape", "_reshape_alias");
        r.Add(c => c.E.Reshape(c.Tensor(0, "self"), c.Tensor(1, "other").Dims), "view_as", "reshape_as");
        r.Add(c => c.E.Transpose(c.Tensor(0, "self"), c.Ints(1, "dims")), "permute");
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            var perm = Enumerable.Range(0, x.Rank).Select(i => (long)i).ToArray();
            var a = TensorValue.NormalizeAxis(c.Int(1, "dim0"), x.Rank);
            var b = TensorValue.NormalizeAxis(c.Int(2, "dim1"), x.Rank);
            (perm[a], perm[b]) = (perm[b], perm[a]);
            return c.E.Transpose(x, perm);
        }, "transpose", "transpose_", "swapaxes");
        r.Add(c => c.Tensor(0, "self") is var x && x.Rank < 2 ? x : c.E.Transpose(x, [1, 0]), "t", "numpy_T");
        r.Add(Clone, "clone");
        r.Add(c => c.Tensor(0, "self"), "contiguous", "detach", "alias", "dropout", "dropout_", "feature_dropout",
            "feature_dropout_", "alpha_dropout", "alpha_dropout_", "feature_alpha_dropout");
        r.Add(Squeeze, "squeeze", "squeeze_");
        r.Add(c => c.E.Unsqueeze(c.Tensor(0, "self"), c.Int(1, "dim")), "unsqueeze", "unsqueeze_");
        r.Add(c => c.E.Concat(c.TensorList(0, "tensors"), c.Int(1, "dim", 0)), "cat", "concat", "concatenate");
        r.Add(c =>
        {
            var parts = c.TensorList(0, "tensors");
            var dim = c.Int(1, "dim", 0);
            var axis = dim < 0 ? dim + parts[0].Rank + 1 : dim;
            return c.E.Concat(parts.Select(p => c.E.Unsqueeze(p, axis)).ToArray(), axis);
        }, "stack");
        r.Add(Chunk, "chunk");
        r.Add(TensorSplit, "tensor_split");
        r.Add(SplitOp, "split", "split_with_sizes");
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            var dim = TensorValue.NormalizeAxis(c.Int(1, "dim", 0), x.Rank);
            var n = x.Dims[(int)dim].Value ?? throw c.Unsupported("unbind along a dynamic axis");
            return new TupleValue(c.E.Split(x, dim, Enumerable.Repeat(1L, (int)n).ToArray()).Select(p => (object?)c.E.Squeeze(p, dim)).ToArray());
        }, "unbind");
        r.Add(c =>
        {
            // Scripted code slices Python lists too (x.size()[:-1] is slice(list, start, end, step)).
            if (c.Arg(0, "self") is List<object?> or TupleValue) return SliceList(c);
            var x = c.Tensor(0, "self");
            var (dim, start, end, step) = (c.Int(1, "dim", 0), c.Arg(2, "start") is null ? 0 : c.Int(2, "start"),
                c.Arg(3, "end") is null ? long.MaxValue : c.Int(3, "end"), c.Int(4, "step", 1));
            return AsView(x, c.E.Slice(x, dim, start, end, step), view => step == 1 ? view.Narrow(dim, start, end) : null);
        }, "slice");
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            var dim = c.Int(1, "dim");
            var index = c.Int(2, "index");
            return AsView(x, c.E.Select(x, dim, index), view => view.Pick(dim, index));
        }, "select");
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            var dim = TensorValue.NormalizeAxis(c.Int(1, "dim"), x.Rank);
            var index = c.Tensor(2, "index");
            var dims = x.Dims.Select((d, i) => i == dim ? index.Dims[0] : d).ToArray();
            return c.E.Node("Gather", [x.Name, c.E.Cast(index, TensorElementType.Int64).Name], x.Type, dims, Attr.Int("axis", dim));
        }, "index_select");
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            var sizes = c.Sizes(1, "size");
            // expand's -1 keeps the input's size; ONNX Expand broadcasts, where 1 keeps it too.
            var target = sizes.Select((s, i) => s.IsKnown && s.Value == -1 ? SymInt.Of(1) : s).ToArray();
            var dims = sizes.Select((s, i) => s.IsKnown && s.Value == -1 ? x.Dims[i - (sizes.Length - x.Rank)] : s).ToArray();
            return c.E.Node("Expand", [x.Name, c.G.ShapeTensor(target)], x.Type, dims);
        }, "expand");
        r.Add(c => c.E.Node("Expand", [c.Tensor(0, "self").Name, c.G.ShapeOf(c.Tensor(1, "other").Name)], c.Tensor(0, "self").Type,
            c.Tensor(1, "other").Dims), "expand_as");
        r.Add(To, "to");
        r.Add(c => c.E.Cast(c.Tensor(0, "self"), c.Tensor(1, "other").Type), "type_as");
        r.Add(c => c.E.Cast(c.Tensor(0, "self"), TensorElementType.Float32), "float");
        r.Add(c => c.E.Cast(c.Tensor(0, "self"), TensorElementType.Int64), "long");
        r.Add(c => c.E.Cast(c.Tensor(0, "self"), TensorElementType.Int32), "int");
    }

    private static object SliceList(OpCall c)
    {
        var items = Interpreter.Items(c.Arg(0, "self"), "slice");
        var n = (long)items.Count;
        var step = c.Int(3, "step", 1);
        if (step == 0) throw c.Unsupported("list slice with step 0");
        var result = new List<object?>();
        if (step > 0)
        {
            long Clamp(long v) => v < 0 ? Math.Max(0, v + n) : Math.Min(v, n);
            var start = c.Arg(1, "start") is null ? 0 : Clamp(c.Int(1, "start"));
            var end = c.Arg(2, "end") is null ? n : Clamp(c.Int(2, "end"));
            for (var i = start; i < end; i += step) result.Add(items[(int)i]);
        }
        else
        {
            // Python's rule for a negative step (RAFT's coords[::-1]): bounds clamp to [-1, n - 1], the end is exclusive.
            long Clamp(long v) => v < 0 ? Math.Max(-1, v + n) : Math.Min(v, n - 1);
            var start = c.Arg(1, "start") is null ? n - 1 : Clamp(c.Int(1, "start"));
            var end = c.Arg(2, "end") is null ? -1 : Clamp(c.Int(2, "end"));
            for (var i = start; i > end; i += step) result.Add(items[(int)i]);
        }
        return result;
    }

    private static object Flatten(OpCall c)
    {
        var x = c.Tensor(0, "self");
        if (x.Rank == 0) return c.E.Reshape(x, [SymInt.Of(1)]);
        var start = TensorValue.NormalizeAxis(c.Int(1, "start_dim", 0), x.Rank);
        var end = TensorValue.NormalizeAxis(c.Int(2, "end_dim", -1), x.Rank);
        if (start >= end) return x;
        if (end == x.Rank - 1 && start == 1 && x.Rank >= 2)
        {
            var rest = x.Dims.Skip(1).All(d => d.IsKnown) ? SymInt.Of(x.Dims.Skip(1).Aggregate(1L, (a, d) => a * d.Value!.Value)) : null;
            return c.E.Node("Flatten", [x.Name], x.Type, [x.Dims[0], rest], Attr.Int("axis", 1));
        }
        var target = new List<SymInt>();
        for (var i = 0; i < start; i++) target.Add(x.Dims[i]);
        var merged = x.Dims.Skip((int)start).Take((int)(end - start + 1)).ToArray();
        target.Add(merged.All(d => d.IsKnown) ? SymInt.Of(merged.Aggregate(1L, (a, d) => a * d.Value!.Value)) : SymInt.Of(-1));
        for (var i = (int)end + 1; i < x.Rank; i++) target.Add(x.Dims[i]);
        if (target.Count(t => t.IsKnown && t.Value == -1) + target.Count(t => !t.IsKnown) > 1 && !merged.All(d => d.IsKnown))
            throw c.Unsupported("flatten of several dynamic axes");
        return c.E.Reshape(x, target);
    }

    private static object Squeeze(OpCall c)
    {
        var x = c.Tensor(0, "self");
        if (!c.Has(1, "dim"))
        {
            if (x.Dims.Any(d => !d.IsKnown)) throw c.Unsupported("squeeze() without dims on a tensor with dynamic axes");
            return c.E.Squeeze(x, x.Dims.Select((d, i) => (d, (long)i)).Where(p => p.d.Value == 1).Select(p => p.Item2).ToArray());
        }
        var dims = c.Ints(1, "dim");
        // PyTorch leaves axes that are not 1 alone; ONNX would fail, so drop them here.
        var axes = dims.Select(d => TensorValue.NormalizeAxis(d, x.Rank)).Where(a => !x.Dims[(int)a].IsKnown || x.Dims[(int)a].Value == 1).ToArray();
        return c.E.Squeeze(x, axes);
    }

    /// <summary>
    /// clone: the same values as a tensor of its own, so an in-place write into the clone (or into the original) does
    /// not reach the other — a constant is copied, a computed tensor gets its own holder of the same ONNX value.
    /// </summary>
    private static TensorValue Clone(OpCall c)
    {
        var x = c.Tensor(0, "self");
        return x.Constant is { } data
            ? c.E.Constant(new Data.NdArray(data.ElementType, data.Shape.ToArray(), (Array)data.Data.Clone()))
            : new TensorValue(x.Name, x.Type, x.Dims) { IsZeros = x.IsZeros };
    }

    /// <summary>
    /// A slice or select of a computed tensor remembers where it lies, for in-place writes (see InPlaceOps). One of a
    /// constant too large to fold does as well, so a write into it is refused rather than lost.
    /// </summary>
    /// <param name="narrow">The part's box within the view <paramref name="x"/> reads; null where it cannot be told.</param>
    private static TensorValue AsView(TensorValue x, TensorValue part, Func<ComputedView, ComputedView?> narrow) =>
        ReferenceEquals(part, x) || part.Constant is not null ? part
            : new TensorValue(part.Name, part.Type, part.Dims)
            {
                Region = x.Region is { IsTracked: false } ? x.Region : narrow(ComputedView.Of(x)) ?? ComputedView.Untracked,
                IsZeros = part.IsZeros,
            };

    private static object Chunk(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var chunks = c.Int(1, "chunks");
        var dim = TensorValue.NormalizeAxis(c.Int(2, "dim", 0), x.Rank);
        if (x.Dims[(int)dim].Value is not { } n) return DynamicChunks(c, x, dim, chunks);
        var size = (n + chunks - 1) / chunks;
        var sizes = new List<long>();
        for (var left = n; left > 0; left -= size) sizes.Add(Math.Min(size, left));
        return new TupleValue(c.E.Split(x, dim, sizes).Cast<object?>().ToArray());
    }

    /// <summary>
    /// chunk along a dynamic axis (RAFT chunks the batch of its two images' features back in two): each piece is
    /// ceil(n / chunks) long, the last takes the rest, computed when the model runs. PyTorch gives fewer pieces when the
    /// last ones would be empty; this gives exactly <paramref name="chunks"/>, which agrees whenever n is a multiple of
    /// them (as for a concatenation chunked back) — the parity check runs the reference at the build's own batch.
    /// </summary>
    private static TupleValue DynamicChunks(OpCall c, TensorValue x, long dim, long chunks)
    {
        var e = c.E;
        var n = new TensorValue(c.G.SizeTensor(x.Dims[(int)dim]), TensorElementType.Int64, [SymInt.Of(1)]);
        var size = e.Binary("Div", e.Binary("Add", n, chunks - 1), chunks);
        var pieces = new object?[chunks];
        for (var i = 0; i < chunks; i++)
        {
            var start = i == 0 ? c.G.Int64s(0) : e.Binary("Mul", size, (long)i).Name;
            var end = i == chunks - 1 ? c.G.Int64s(long.MaxValue) : e.Binary("Mul", size, (long)(i + 1)).Name;
            pieces[i] = e.Node("Slice", [x.Name, start, end, c.G.Int64s(dim)], x.Type,
                x.Dims.Select((d, axis) => axis == dim ? null : d).ToArray());
        }
        return new TupleValue(pieces);
    }

    /// <summary>
    /// tensor_split(x, indices, dim) cuts before each index (clamped to the axis); tensor_split(x, sections, dim) makes
    /// that many pieces, the first n % sections one longer (unlike chunk, always exactly that many).
    /// </summary>
    private static object TensorSplit(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var dim = TensorValue.NormalizeAxis(c.Int(2, "dim", 0), x.Rank);
        var arg = c.Required(1, "indices");
        var n = x.Dims[(int)dim].Value;
        if (ScalarMath.IsInt(arg))
        {
            var sections = ScalarMath.ToLong(arg, "sections");
            if (sections <= 0) throw c.Unsupported($"{sections} sections");
            if (n is not { } length) throw c.Unsupported("tensor_split into sections along a dynamic axis");
            var pieces = new object?[sections];
            for (long i = 0, start = 0; i < sections; i++)
            {
                var size = length / sections + (i < length % sections ? 1 : 0);
                pieces[i] = c.E.Slice(x, dim, start, start + size);
                start += size;
            }
            return new TupleValue(pieces);
        }
        // Indices as slice bounds: negative ones count from the end, none past the axis.
        var cuts = c.Ints(1, "indices").Select(i => i >= 0 ? n is { } size ? Math.Min(i, size) : i
            : n is { } known ? Math.Max(0, i + known) : throw c.Unsupported("a negative tensor_split index along a dynamic axis")).ToArray();
        var bounds = cuts.Prepend(0L).Append(long.MaxValue).ToArray();
        return new TupleValue(Enumerable.Range(0, cuts.Length + 1)
            .Select(i => (object?)c.E.Slice(x, dim, bounds[i], Math.Max(bounds[i], bounds[i + 1]))).ToArray());
    }

    private static object SplitOp(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var dim = TensorValue.NormalizeAxis(c.Int(2, "dim", 0), x.Rank);
        var n = x.Dims[(int)dim].Value ?? throw c.Unsupported("split along a dynamic axis");
        var arg = c.Required(1, "split_size");
        List<long> sizes;
        if (ScalarMath.IsInt(arg))
        {
            var size = ScalarMath.ToLong(arg, "split_size");
            sizes = [];
            for (var left = n; left > 0; left -= size) sizes.Add(Math.Min(size, left));
        }
        else sizes = c.Ints(1, "split_sizes").ToList();
        return new TupleValue(c.E.Split(x, dim, sizes).Cast<object?>().ToArray());
    }

    private static object To(OpCall c)
    {
        var x = c.Tensor(0, "self");
        // to(dtype, ...), to(device, dtype, ...), to(other, ...): find a dtype code among the arguments.
        foreach (var a in c.Args.Skip(1).Take(2))
        {
            if (a is TensorValue other) return c.E.Cast(x, other.Type);
            if (ScalarMath.IsInt(a) && a is not bool) return c.E.Cast(x, TorchDtype.ElementType(a)!.Value);
        }
        if (c.Kwargs.TryGetValue("dtype", out var dt) && TorchDtype.ElementType(dt) is { } t) return c.E.Cast(x, t);
        return x;
    }
}
