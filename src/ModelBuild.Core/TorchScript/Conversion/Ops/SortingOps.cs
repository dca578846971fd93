using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>topk, sort and argsort → ONNX TopK (a sort is a TopK of every element); cumsum → CumSum.</summary>
public static class SortingOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(TopK, "topk");
        r.Add(c => Sort(c) is var (values, indices) ? new TupleValue([values, indices]) : null, "sort");
        r.Add(c => Sort(c).Indices, "argsort");
        r.Add(CumSum, "cumsum");
    }

    private static object TopK(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var k = c.Int(1, "k");
        var axis = TensorValue.NormalizeAxis(c.Int(2, "dim", -1), x.Rank);
        var (values, indices) = Emit(c, x, axis, k, c.Bool(3, "largest", true));
        return new TupleValue([values, indices]);
    }

    /// <summary>sort(x, dim, descending) or the stable overload sort(x, stable=…, dim=…, descending=…).</summary>
    private static (TensorValue Values, TensorValue Indices) Sort(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var stableOverload = c.Kwargs.ContainsKey("stable") || c.Args.Count > 1 && c.Args[1] is bool or null && c.Args.Count > 2;
        var dim = stableOverload ? c.Int(2, "dim", -1) : c.Int(1, "dim", -1);
        var descending = stableOverload ? c.Bool(3, "descending") : c.Bool(2, "descending");
        var axis = TensorValue.NormalizeAxis(dim, x.Rank);
        var n = x.Dims[(int)axis].Value ?? throw c.Unsupported("sorting along a dynamic axis");
        return Emit(c, x, axis, n, descending);
    }

    private static (TensorValue, TensorValue) Emit(OpCall c, TensorValue x, long axis, long k, bool largest)
    {
        var names = c.G.Node("TopK", [x.Name, c.G.Int64s(k)], 2,
            [Attr.Int("axis", axis), Attr.Int("largest", largest ? 1 : 0), Attr.Int("sorted", 1)]);
        var dims = x.Dims.Select((d, i) => i == axis ? SymInt.Of(k) : d).ToArray();
        return (new TensorValue(names[0], x.Type, dims), new TensorValue(names[1], TensorElementType.Int64, dims));
    }

    /// <summary>cumsum(x, dim, dtype): integer and bool inputs sum in int64, as PyTorch does.</summary>
    private static object CumSum(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var axis = TensorValue.NormalizeAxis(c.Int(1, "dim"), x.Rank);
        var type = TorchDtype.ElementType(c.Arg(2, "dtype")) ?? (x.IsFloat ? x.Type : TensorElementType.Int64);
        var input = c.E.Cast(x, type);
        return c.E.Node("CumSum", [input.Name, c.G.Scalar(axis, TensorElementType.Int64)], type, x.Dims);
    }
}
