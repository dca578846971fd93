using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>mean/sum/amax/amin/max/min/argmax and vector norms over dims, with keepdim.</summary>
public static class ReductionOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Reduce(c, "ReduceMean"), "mean");
        // sum() of a list is Python's builtin over numbers (swin's sum(shift_size)); of a tensor, ReduceSum.
        r.Add(c => c.Arg(0, "self") is List<object?> l
            ? l.Aggregate((object?)0L, (acc, v) => ScalarMath.Binary("+", acc, v, c.E))
            : Reduce(c, "ReduceSum"), "sum");
        r.Add(c => Reduce(c, "ReduceMax"), "amax");
        r.Add(c => Reduce(c, "ReduceMin"), "amin");
        r.Add(c => Reduce(c, "ReduceProd"), "prod");
        r.Add(c => MaxMin(c, "ReduceMax", "ArgMax", "Max"), "max");
        r.Add(c => MaxMin(c, "ReduceMin", "ArgMin", "Min"), "min");
        r.Add(c => Arg(c, "ArgMax"), "argmax");
        r.Add(c => Arg(c, "ArgMin"), "argmin");
        r.Add(Norm, "norm", "linalg_vector_norm");
        // x.norm() with no arguments, as traced: frobenius_norm(x, dim=[], keepdim=False), the 2-norm of every entry.
        r.Add(c => c.E.Reduce("ReduceL2", FloatTensor(c), c.Arg(1, "dim") is null ? null : c.Ints(1, "dim"), c.Bool(2, "keepdim")),
            "frobenius_norm");
    }

    /// <summary>
    /// norm(x, p=2, dim=None, keepdim=False, *, dtype) and linalg_vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype):
    /// the vector p-norm over dims, all of them when none are given (F.normalize writes norm(x, 2., [-1], True)).
    /// </summary>
    private static object Norm(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var order = c.Op == "norm" ? "p" : "ord";
        var p = c.Arg(1, order) is null ? 2.0 : c.Double(1, order);
        var dims = c.Arg(2, "dim") is null ? null : c.Ints(2, "dim");
        var keep = c.Bool(3, "keepdim");
        if (TorchDtype.ElementType(c.Arg(4, "dtype")) is { } t) x = c.E.Cast(x, t);
        x = FloatTensor(c, x);
        var e = c.E;
        return p switch
        {
            2 => e.Reduce("ReduceL2", x, dims, keep),
            1 => e.Reduce("ReduceL1", x, dims, keep),
            double.PositiveInfinity => e.Reduce("ReduceMax", e.Unary("Abs", x), dims, keep),
            double.NegativeInfinity => e.Reduce("ReduceMin", e.Unary("Abs", x), dims, keep),
            // The count of non-zero entries.
            0 => e.Reduce("ReduceSum", e.Cast(e.Unary("Not", e.Binary("Equal", x, 0.0)), x.Type), dims, keep),
            _ => e.Binary("Pow", e.Reduce("ReduceSum", e.Binary("Pow", e.Unary("Abs", x), p), dims, keep), 1 / p),
        };
    }

    private static object Reduce(OpCall c, string op)
    {
        var x = c.Tensor(0, "self");
        // sum(x, dtype=None) and mean(x) reduce everything; otherwise (x, dims, keepdim, dtype).
        var dimArg = c.Arg(1, "dim");
        var dims = dimArg is null ? null : c.Ints(1, "dim");
        var keep = c.Bool(2, "keepdim");
        if (TorchDtype.ElementType(c.Arg(3, "dtype")) is { } t) x = c.E.Cast(x, t);
        if (op == "ReduceSum" && !x.IsFloat && x.Type != TensorElementType.Int64) x = c.E.Cast(x, TensorElementType.Int64);
        return c.E.Reduce(op, x, dims, keep);
    }

    private static TensorValue FloatTensor(OpCall c, TensorValue? x = null)
    {
        x ??= c.Tensor(0, "self");
        return x.IsFloat ? x : throw c.Unsupported($"the norm of a {x.Type} tensor (PyTorch takes floating point only)");
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
