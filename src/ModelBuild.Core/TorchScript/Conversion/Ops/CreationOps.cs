using ModelBuild.Data;
using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>zeros/ones/full/new_*: constants when the shape is static, ConstantOfShape when it holds the dynamic batch;
/// arange: a constant, or Range over a dynamic size; triu/tril: folded on constants, Trilu otherwise.</summary>
public static class CreationOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Fill(c, c.Sizes(0, "size"), 0, TorchDtype.ElementType(c.Arg(1, "dtype"))), "zeros");
        r.Add(c => Fill(c, c.Sizes(0, "size"), 1, TorchDtype.ElementType(c.Arg(1, "dtype"))), "ones");
        r.Add(c => Fill(c, c.Sizes(0, "size"), c.Double(1, "fill_value"), TorchDtype.ElementType(c.Arg(2, "dtype"))), "full");
        r.Add(c => Fill(c, c.Tensor(0, "self").Dims, 0, TorchDtype.ElementType(c.Arg(1, "dtype")) ?? c.Tensor(0, "self").Type), "zeros_like");
        r.Add(c => Fill(c, c.Tensor(0, "self").Dims, 1, TorchDtype.ElementType(c.Arg(1, "dtype")) ?? c.Tensor(0, "self").Type), "ones_like");
        r.Add(c => Fill(c, c.Tensor(0, "self").Dims, c.Double(1, "fill_value"), TorchDtype.ElementType(c.Arg(2, "dtype")) ?? c.Tensor(0, "self").Type), "full_like");
        r.Add(c => Fill(c, c.Sizes(1, "size"), 0, TorchDtype.ElementType(c.Arg(2, "dtype")) ?? c.Tensor(0, "self").Type), "new_zeros", "new_empty");
        r.Add(c => Fill(c, c.Sizes(1, "size"), 1, TorchDtype.ElementType(c.Arg(2, "dtype")) ?? c.Tensor(0, "self").Type), "new_ones");
        r.Add(c => Fill(c, c.Sizes(1, "size"), c.Double(2, "fill_value"), TorchDtype.ElementType(c.Arg(3, "dtype")) ?? c.Tensor(0, "self").Type), "new_full");
        r.Add(c => Fill(c, c.Sizes(0, "size"), 0, TorchDtype.ElementType(c.Arg(1, "dtype"))), "empty");
        r.Add(Literal, "tensor", "as_tensor");
        r.Add(Arange, "arange");
        r.Add(Linspace, "linspace");
        r.Add(c => Triangle(c, upper: true), "triu", "triu_");
        r.Add(c => Triangle(c, upper: false), "tril", "tril_");
    }

    /// <summary>
    /// torch.tensor(data, dtype=…) of numbers known when converting: a constant. Without a dtype PyTorch infers it
    /// from the data: bools give bool, ints int64, any float float32.
    /// </summary>
    private static object Literal(OpCall c)
    {
        var data = c.Required(0, "data");
        var dtype = TorchDtype.ElementType(c.Arg(1, "dtype"));
        if (data is TensorValue { Rank: > 0 } existing) return dtype is { } cast ? c.E.Cast(existing, cast) : existing;
        var shape = new List<long>();
        for (var level = data; level is List<object?> or TupleValue; )
        {
            var items = Interpreter.Items(level, "read");
            shape.Add(items.Count);
            level = items.Count > 0 ? items[0] : null;
        }
        var leaves = new List<object?>();
        Leaves(data, shape.Count, leaves);
        if (leaves.Count != NdArray.ElementCount(shape.ToArray()))
            throw c.Unsupported("nested lists of different lengths");
        var unwrapped = leaves.Select(ScalarMath.Unwrap).ToList();
        var values = unwrapped.Select(v => v switch
        {
            bool b => b ? 1.0 : 0.0,
            long or double or int or SymInt { IsKnown: true } => ScalarMath.ToDouble(v, "torch.tensor"),
            var other => throw c.Unsupported($"a value known only at run time ({Interpreter.Describe(other)}); " +
                "torch.tensor of computed values is not supported, build the tensor with torch.stack or torch.cat"),
        }).ToArray();
        var type = dtype
            ?? (unwrapped.Count > 0 && unwrapped.All(v => v is bool) ? TensorElementType.Bool
                : unwrapped.Any(v => v is double) ? TensorElementType.Float32 : TensorElementType.Int64);
        return c.E.Constant(NdArray.FromDoubles(type, shape.ToArray(), values));
    }

    private static void Leaves(object? value, int depth, List<object?> into)
    {
        if (depth == 0) { into.Add(value); return; }
        foreach (var item in Interpreter.Items(value, "read")) Leaves(item, depth - 1, into);
    }

    public static TensorValue Fill(OpCall c, IReadOnlyList<SymInt> sizes, double value, TensorElementType? dtype)
    {
        var type = dtype ?? TensorElementType.Float32;
        if (sizes.All(s => s.IsKnown))
        {
            var shape = sizes.Select(s => s.Value!.Value).ToArray();
            var count = NdArray.ElementCount(shape);
            var one = GraphBuilder.ScalarArray(value, type);
            var data = Array.CreateInstance(NdArray.ClrType(type), count);
            var v = one.Data.GetValue(0);
            for (long i = 0; i < count; i++) data.SetValue(v, i);
            return c.E.Constant(new NdArray(type, shape, data)) is var t && value == 0 ? new TensorValue(t.Name, t.Type, t.Dims,
                t.Constant) { IsZeros = true } : t;
        }
        var fill = GraphBuilder.ToTensorProto(new NdArray(type, [1], GraphBuilder.ScalarArray(value, type).Data), "value");
        var node = c.E.Node("ConstantOfShape", [c.G.ShapeTensor(sizes)], type, sizes, Attr.Tensor("value", fill));
        return value == 0 ? new TensorValue(node.Name, node.Type, node.Dims) { IsZeros = true } : node;
    }

    /// <summary>arange(end | start, end[, step], dtype=…): saved code passes the bounds positionally and the rest by keyword.
    /// Integer bounds give int64 (PyTorch's rule), any float bound float32.</summary>
    /// <summary>
    /// linspace(start, end, steps, dtype, …) with numbers: a constant. PyTorch fills the first half from start and the
    /// second half back from end (start + i·step, end − (steps − 1 − i)·step), so both ends are exact.
    /// </summary>
    private static object Linspace(OpCall c)
    {
        double start = c.Double(0, "start"), end = c.Double(1, "end");
        var steps = c.Int(2, "steps");
        if (steps < 0) throw c.Unsupported($"linspace with {steps} steps");
        var type = TorchDtype.ElementType(c.Arg(3, "dtype")) ?? TensorElementType.Float32;
        var step = steps > 1 ? (end - start) / (steps - 1) : 0;
        var values = new double[steps];
        for (long i = 0; i < steps; i++) values[i] = i < steps / 2 ? start + i * step : end - (steps - 1 - i) * step;
        if (steps == 1) values[0] = start;
        return c.E.Constant(Data.NdArray.FromDoubles(type, [steps], values));
    }

    private static object Arange(OpCall c)
    {
        var bounds = c.Args.TakeWhile(a => a is not (OpaqueValue or null) && (ScalarMath.IsScalar(a))).ToList();
        if (bounds.Count > 3) bounds = bounds.Take(3).ToList();
        object? start = 0L, end, step = 1L;
        switch (bounds.Count)
        {
            case 1: end = bounds[0]; break;
            case 2: start = bounds[0]; end = bounds[1]; break;
            case 3: start = bounds[0]; end = bounds[1]; step = bounds[2]; break;
            default: throw c.Unsupported("arange without bounds");
        }
        var dtypeArg = c.Kwargs.GetValueOrDefault("dtype") ?? (c.Args.Count > bounds.Count ? c.Args[bounds.Count] : null);
        var isFloat = new[] { start, end, step }.Any(v => ScalarMath.Unwrap(v) is double);
        var type = TorchDtype.ElementType(dtypeArg) ?? (isFloat ? TensorElementType.Float32 : TensorElementType.Int64);
        if (ScalarMath.Unwrap(end) is SymInt { IsKnown: false } || ScalarMath.Unwrap(start) is SymInt { IsKnown: false })
        {
            var t = c.E.AsTensor(start, TensorElementType.Int64);
            var limit = c.E.AsTensor(end, TensorElementType.Int64);
            var delta = c.E.AsTensor(step, TensorElementType.Int64);
            return c.E.Cast(c.E.Node("Range", [t.Name, limit.Name, delta.Name], TensorElementType.Int64, [null]), type);
        }
        double s0 = ScalarMath.ToDouble(start, "arange start"), e0 = ScalarMath.ToDouble(end, "arange end"),
            d0 = ScalarMath.ToDouble(step, "arange step");
        if (d0 == 0) throw c.Unsupported("arange with step 0");
        var count = Math.Max(0, (long)Math.Ceiling((e0 - s0) / d0));
        var values = new double[count];
        for (long i = 0; i < count; i++) values[i] = s0 + i * d0;
        return c.E.Constant(Data.NdArray.FromDoubles(type, [count], values));
    }

    /// <summary>triu/tril(x, diagonal): keeps the upper (col − row ≥ k) or lower (col − row ≤ k) triangle of the last
    /// two axes. Constants are folded here, so masks built in forward() stay constants on every opset.</summary>
    private static object Triangle(OpCall c, bool upper)
    {
        var x = c.Tensor(0, "self");
        var k = c.Int(1, "diagonal", 0);
        if (x.Rank < 2) throw c.Unsupported($"{(upper ? "triu" : "tril")} of a rank-{x.Rank} tensor");
        if (x.Constant is { } data)
        {
            long rows = data.Shape[^2], cols = data.Shape[^1];
            var values = data.ToDoubles();
            for (long i = 0; i < values.Length; i++)
            {
                var col = i % cols;
                var row = i / cols % rows;
                if (upper ? col - row < k : col - row > k) values[i] = 0;
            }
            return c.E.Constant(Data.NdArray.FromDoubles(data.ElementType, data.Shape, values));
        }
        if (c.E.Opset < 14)
            throw c.Unsupported($"{(upper ? "triu" : "tril")} of a computed tensor below opset 14 (set export.onnx.opset: 14 or later)");
        return c.E.Node("Trilu", [x.Name, c.G.Scalar(k, TensorElementType.Int64)], x.Type, x.Dims, Attr.Int("upper", upper ? 1 : 0));
    }
}
