using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>
/// Reading by index and choosing by condition: advanced indexing (<c>x[idx]</c>, <c>x[rows, cols]</c>, which saved
/// code writes as <c>torch.index(x, [..])</c>), gather, where and masked_fill with scalar operands.
/// </summary>
public static class IndexingOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(Index, "index");
        r.Add(Gather, "gather");
        r.Add(Where, "where");
        r.Add(MaskedFill, "masked_fill", "masked_fill_");
        r.Add(IndexPut, "index_put");
    }

    /// <summary>x.index_put(indices, values): folded on a constant; on a computed tensor, ScatterND at the positions the
    /// constant index tensors name (accumulate needs opset 16's reduction).</summary>
    private static object IndexPut(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var values = c.Tensor(2, "values");
        var accumulate = c.Bool(3, "accumulate");
        if (x.Constant is { Length: <= Emitter.FoldLimit } data && values.Constant is not null)
            return c.E.Constant(IndexedWrite.Apply(c, data, c.Required(1, "indices"), values, accumulate));
        var indices = IndexedWrite.LeadingIndices(c, c.Required(1, "indices"));
        if (x.Dims.Take(indices.Count).Any(d => !d.IsKnown)) throw c.Unsupported("index_put along a dynamic axis");
        var (broadcast, coordinates) = IndexedWrite.Coordinates(c, indices, x.Dims.Take(indices.Count).Select(d => d.Value!.Value).ToArray());
        var where = c.E.Constant(new Data.NdArray(TensorElementType.Int64, broadcast.Append(indices.Count).ToArray(), coordinates));
        var updateDims = broadcast.Select(SymInt.Of).Concat(x.Dims.Skip(indices.Count)).ToArray();
        var updates = c.E.Node("Expand", [c.E.Cast(values, x.Type).Name, c.G.ShapeTensor(updateDims)], x.Type, updateDims);
        if (accumulate && c.E.Opset < 16) throw c.Unsupported("index_put with accumulate=True below opset 16 (set export.onnx.opset: 16 or later)");
        return accumulate
            ? c.E.Node("ScatterND", [x.Name, where.Name, updates.Name], x.Type, x.Dims, Attr.String("reduction", "add"))
            : c.E.Node("ScatterND", [x.Name, where.Name, updates.Name], x.Type, x.Dims);
    }

    /// <summary>
    /// x[i0, i1, …] with index tensors at some axes (None elsewhere). Gather when one axis is indexed; otherwise the
    /// indexed axes are moved to the front, the index tensors broadcast and stacked, and GatherND picks the rows.
    /// As in NumPy/PyTorch, the indexed result takes the place of the indexed axes when they are adjacent, and
    /// comes first when they are not.
    /// </summary>
    private static object Index(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var raw = Interpreter.Items(c.Required(1, "indices"), "read the indices of " + c.Op);
        if (raw.Count > x.Rank) throw c.Unsupported($"{raw.Count} indices for a rank-{x.Rank} tensor");
        var indexed = new List<(int Axis, TensorValue Index)>();
        for (var axis = 0; axis < raw.Count; axis++)
        {
            if (raw[axis] is null) continue;
            var t = raw[axis] as TensorValue ?? c.E.AsTensor(raw[axis], TensorElementType.Int64);
            if (t.Type is TensorElementType.Bool or TensorElementType.UInt8)
                throw c.Unsupported("indexing with a boolean mask (its result's size depends on the data)");
            indexed.Add((axis, c.E.Cast(t, TensorElementType.Int64)));
        }
        if (indexed.Count == 0) return x;
        if (indexed.Count == 1)
        {
            var (axis, index) = indexed[0];
            var dims = x.Dims.Take(axis).Concat(index.Dims).Concat(x.Dims.Skip(axis + 1)).ToArray();
            return c.E.Node("Gather", [x.Name, index.Name], x.Type, dims, Attr.Int("axis", axis));
        }

        var axes = indexed.Select(p => p.Axis).ToArray();
        var rest = Enumerable.Range(0, x.Rank).Where(a => !axes.Contains(a)).ToArray();
        var front = c.E.Transpose(x, axes.Concat(rest).Select(a => (long)a).ToArray());
        var shape = indexed.Select(p => p.Index.Dims.ToArray()).Aggregate((a, b) => Emitter.Broadcast(a, b)
            .Select(d => d ?? SymInt.Of(-1)).ToArray());
        if (shape.Any(d => d.IsKnown && d.Value == -1)) throw c.Unsupported("index tensors whose broadcast shape is not known");
        var target = c.G.ShapeTensor(shape);
        var stacked = c.E.Concat(indexed.Select(p =>
            c.E.Unsqueeze(c.E.Node("Expand", [p.Index.Name, target], TensorElementType.Int64, shape), -1)).ToArray(), -1);
        var picked = c.E.Node("GatherND", [front.Name, stacked.Name], x.Type, shape.Concat(rest.Select(a => x.Dims[a])).ToArray());
        var adjacent = axes.Zip(axes.Skip(1), (a, b) => b == a + 1).All(v => v);
        if (!adjacent || axes[0] == 0) return picked;
        // Adjacent indexed axes after some plain ones: the plain leading axes go back in front.
        var lead = axes[0];
        var perm = Enumerable.Range(shape.Length, lead).Concat(Enumerable.Range(0, shape.Length))
            .Concat(Enumerable.Range(shape.Length + lead, rest.Length - lead)).Select(a => (long)a).ToArray();
        return c.E.Transpose(picked, perm);
    }

    private static object Gather(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var axis = TensorValue.NormalizeAxis(c.Int(1, "dim"), x.Rank);
        var index = c.E.Cast(c.Tensor(2, "index"), TensorElementType.Int64);
        return c.E.Node("GatherElements", [x.Name, index.Name], x.Type, index.Dims, Attr.Int("axis", axis));
    }

    /// <summary>where(cond, a, b): Python numbers take the other operand's type (two numbers: float32 or int64).</summary>
    private static object Where(OpCall c)
    {
        var condition = c.Tensor(0, "condition");
        if (!c.Has(1, "self")) throw c.Unsupported("where(condition) with one argument (nonzero: its size depends on the data)");
        return Select(c, c.E.Cast(condition, TensorElementType.Bool), c.Arg(1, "self"), c.Arg(2, "other"));
    }

    private static object MaskedFill(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var mask = c.E.Cast(c.Tensor(1, "mask"), TensorElementType.Bool);
        var value = c.Arg(2, "value");
        var fill = value is TensorValue t ? c.E.Cast(t, x.Type) : c.E.AsTensor(ScalarMath.Unwrap(value), x.Type);
        var chosen = Select(c, mask, fill, x);
        return chosen.Rank == x.Rank ? chosen : throw c.Unsupported("a mask that broadcasts the filled tensor to a larger shape");
    }

    private static TensorValue Select(OpCall c, TensorValue condition, object? a, object? b)
    {
        var ta = a as TensorValue;
        var tb = b as TensorValue;
        var type = ta is { Rank: > 0 } ? ta.Type : tb is { Rank: > 0 } ? tb.Type : ta?.Type ?? tb?.Type
            ?? (ScalarMath.Unwrap(a) is double || ScalarMath.Unwrap(b) is double ? TensorElementType.Float32 : TensorElementType.Int64);
        var x = ta is not null ? c.E.Cast(ta, type) : c.E.AsTensor(ScalarMath.Unwrap(a), type);
        var y = tb is not null ? c.E.Cast(tb, type) : c.E.AsTensor(ScalarMath.Unwrap(b), type);
        var dims = Emitter.Broadcast(Emitter.Broadcast(condition.Dims, x.Dims).Select(d => d!).ToArray(), y.Dims);
        return c.E.Node("Where", [condition.Name, x.Name, y.Name], type, dims);
    }
}
