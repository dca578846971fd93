using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>mean/sum/amax/amin/max/min/argmax over dims, with keepdim.</summary>
public static class ReductionOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Reduce(c, "ReduceMean"), "mean");
        r.Add(c => Reduce(c, "ReduceSum"), "sum");
        r.Add(c => Reduce(c, "ReduceMax"), "amax");
        r.Add(c => Reduce(c, "ReduceMin"), "amin");
        r.Add(c => Reduce(c, "ReduceProd"), "prod");
        r.Add(c => MaxMin(c, "ReduceMax", "ArgMax", "Max"), "max");
        r.Add(c => MaxMin(c, "ReduceMin", "ArgMin", "Min"), "min");
        r.Add(c => Arg(c, "ArgMax"), "argmax");
        r.Add(c => Arg(c, "ArgMin"), "argmin");
    }

    private static object Reduce(OpCall c, string op)
    {
        var x = c.Tensor(0, "self");
        // sum(x, dtype=None) and mean(x) reduce everything; otherwise (x, dims, keepdim, dtype).
        var dimArg = c.Arg(1, "dim");
        var dims = dimArg is null ? null : c.Ints(1, "dim");
        var keep = c.Bool(2, "keepdim");
        if (CreationOps.DType(c.Arg(3, "dtype")) is { } t) x = c.E.Cast(x, t);
        if (op == "ReduceSum" && !x.IsFloat && x.Type != TensorElementType.Int64) x = c.E.Cast(x, TensorElementType.Int64);
        return c.E.Reduce(op, x, dims, keep);
    }

    private static object MaxMin(OpCall c, string reduce, string arg, string elementwise)
    {
        var x = c.Tensor(0, "self");
        var other = c.Arg(1, "dim");
        if (other is null) return c.E.Reduce(reduce, x, null, false);
        if (other is TensorValue y) return c.E.Binary(elementwise, x, y);
        var dim = TensorValue.NormalizeAxis(c.Int(1, "dim"), x.Rank);
        var keep = c.Bool(2, "keepdim");
        var values = c.E.Reduce(reduce, x, [dim], keep);
        var dims = keep ? x.Dims.Select((d, i) => i == dim ? SymInt.Of(1) : d).ToArray() : x.Dims.Where((_, i) => i != dim).ToArray();
        var indices = c.E.Node(arg, [x.Name], TensorElementType.Int64, dims, Attr.Int("axis", dim), Attr.Int("keepdims", keep ? 1 : 0));
        return new TupleValue([values, indices]);
    }

    private static object Arg(OpCall c, string op)
    {
        var x = c.Tensor(0, "self");
        if (c.Arg(1, "dim") is null)
            x = c.E.Reshape(x, [SymInt.Of(-1)]);
        var dim = c.Arg(1, "dim") is null ? 0 : TensorValue.NormalizeAxis(c.Int(1, "dim"), x.Rank);
        var keep = c.Bool(2, "keepdim");
        var dims = keep ? x.Dims.Select((d, i) => i == dim ? SymInt.Of(1) : d).ToArray() : x.Dims.Where((_, i) => i != dim).ToArray();
        return c.E.Node(op, [x.Name], TensorElementType.Int64, dims, Attr.Int("axis", dim), Attr.Int("keepdims", keep ? 1 : 0));
    }
}
