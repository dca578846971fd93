using ModelBuild.Data;
using Onnx;
using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// Tensor-level building blocks over <see cref="GraphBuilder"/>: each emits ONNX nodes and infers the result's
/// element type and shape (dims known or dynamic), which later lowerings rely on (ranks, axes, folding sizes).
/// </summary>
public sealed class Emitter(GraphBuilder graph)
{
    public GraphBuilder G { get; } = graph;
    public int Opset => G.Opset;

    private static SymInt NewDim(string tensor, int axis, string? symbol = null) =>
        SymInt.Dynamic(symbol ?? $"{tensor}[{axis}]", tensor, axis);

    /// <summary>A node with one output whose dims are given (null entries become dynamic dims of the output).</summary>
    public TensorValue Node(string op, IReadOnlyList<string> inputs, TensorElementType type,
        IReadOnlyList<SymInt?> dims, params AttributeProto[] attrs)
    {
        var name = G.Node(op, inputs, 1, attrs)[0];
        return new TensorValue(name, type, dims.Select((d, i) => d ?? NewDim(name, i)).ToArray());
    }

    public TensorValue Like(string op, TensorValue x, IReadOnlyList<string> inputs, params AttributeProto[] attrs) =>
        Node(op, inputs, x.Type, x.Dims, attrs);

    public TensorValue Unary(string op, TensorValue x, params AttributeProto[] attrs)
    {
        // PyTorch computes sqrt/exp/log/… of integers in the default float type (torch.sqrt(8) is 2.83, not 2).
        if (!x.IsFloat && op is "Sqrt" or "Exp" or "Log" or "Reciprocal" or "Sin" or "Cos" or "Tanh" or "Sigmoid" or "Erf")
            x = Cast(x, TensorElementType.Float32);
        return attrs.Length == 0 && x.Constant is { Length: <= FoldLimit } c && FoldUnary(op) is { } f
            ? Constant(NdArray.FromDoubles(c.ElementType, c.Shape, c.ToDoubles().Select(f).ToArray()))
            : Like(op, x, [x.Name], attrs);
    }

    /// <summary>Constants up to this many elements are computed at conversion time (sizes, scale factors, masks built
    /// in forward), so the shape arithmetic that reads them back as Python numbers keeps folding.</summary>
    public const int FoldLimit = 1 << 16;

    private static Func<double, double>? FoldUnary(string op) => op switch
    {
        "Floor" => Math.Floor,
        "Ceil" => Math.Ceiling,
        "Neg" => v => -v,
        "Abs" => Math.Abs,
        "Sqrt" => Math.Sqrt,
        "Reciprocal" => v => 1 / v,
        "Exp" => Math.Exp,
        "Log" => Math.Log,
        "Sign" => v => Math.Sign(v),
        "Round" => v => Math.Round(v, MidpointRounding.ToEven),
        "Not" => v => v == 0 ? 1 : 0,
        _ => null,
    };

    /// <summary>Scalars become constants of the other operand's type (PyTorch: a Python number does not promote a tensor).</summary>
    public TensorValue AsTensor(object? v, TensorElementType? like)
    {
        v = v is TensorValue { Rank: 0, Constant: not null } && like is not null ? ScalarMath.Unwrap(v) : v;
        switch (v)
        {
            case TensorValue t:
                return t;
            case SymInt { IsKnown: false } s:
                var name = G.Node1("Reshape", [G.SizeTensor(s), G.Int64s()]);
                var t64 = new TensorValue(name, TensorElementType.Int64, []);
                return like is { } lt && lt != TensorElementType.Int64 ? Cast(t64, lt) : t64;
            case double d:
                var ft = like is { } l && IsFloat(l) ? l : TensorElementType.Float32;
                return Constant(GraphBuilder.ScalarArray(d, ft));
            case bool b:
                return Constant(GraphBuilder.ScalarArray(b ? 1 : 0, like ?? TensorElementType.Bool));
            default:
                var n = ScalarMath.ToLong(v, "a tensor operand");
                return Constant(GraphBuilder.ScalarArray(n, like ?? TensorElementType.Int64));
        }
    }

    public static bool IsFloat(TensorElementType t) => t is TensorElementType.Float32 or TensorElementType.Float16 or TensorElementType.Float64;

    public TensorValue Constant(NdArray data)
    {
        var name = data.Shape.Length == 0 ? G.Scalar(data.ToDoubles()[0], data.ElementType) : G.AddInitializer(data, "const").Name;
        return new TensorValue(name, data.ElementType, data.Shape.Select(SymInt.Of).ToArray(), data);
    }

    /// <summary>Elementwise binary op with numpy broadcasting; scalars adopt the tensor operand's type.</summary>
    public TensorValue Binary(string op, object? a, object? b)
    {
        var ta = a as TensorValue;
        var tb = b as TensorValue;
        if (ta is { Rank: 0, Constant: not null } && tb is { Rank: > 0 }) ta = null;
        if (tb is { Rank: 0, Constant: not null } && ta is { Rank: > 0 }) tb = null;
        var type = ta?.Type ?? tb?.Type ?? (a is double || b is double ? TensorElementType.Float32 : TensorElementType.Int64);
        // An int tensor with a float scalar computes in float, as PyTorch does.
        if (!IsFloat(type) && (ScalarMath.Unwrap(ta is null ? a : b) is double)) type = TensorElementType.Float32;
        var x = ta is not null && ta.Type == type ? ta : ta is not null ? Cast(ta, type) : AsTensor(a, type);
        var y = tb is not null && tb.Type == type ? tb : tb is not null ? Cast(tb, type) : AsTensor(b, type);
        var outType = op is "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "And" or "Or" ? TensorElementType.Bool : type;
        return Node(op, [x.Name, y.Name], outType, Broadcast(x.Dims, y.Dims));
    }

    public static IReadOnlyList<SymInt?> Broadcast(IReadOnlyList<SymInt> a, IReadOnlyList<SymInt> b)
    {
        var rank = Math.Max(a.Count, b.Count);
        var result = new SymInt?[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i - (rank - a.Count) >= 0 ? a[i - (rank - a.Count)] : null;
            var db = i - (rank - b.Count) >= 0 ? b[i - (rank - b.Count)] : null;
            if (da is null) result[i] = db;
            else if (db is null) result[i] = da;
            else if (da.Value == 1) result[i] = db;
            else if (db.Value == 1) result[i] = da;
            else if (da.IsKnown) result[i] = da;
            else result[i] = db.IsKnown ? db : da;
        }
        return result;
    }

    public TensorValue Cast(TensorValue x, TensorElementType to) =>
        x.Type == to ? x
        : x.Constant is { Length: <= FoldLimit } c ? Constant(NdArray.FromDoubles(to, c.Shape, c.ToDoubles()))
        : Node("Cast", [x.Name], to, x.Dims, Attr.Int("to", Onnx.OnnxTypes.ToOnnx(to)));

    public TensorValue Transpose(TensorValue x, IReadOnlyList<long> perm)
    {
        var p = perm.Select(a => TensorValue.NormalizeAxis(a, x.Rank)).ToArray();
        if (p.Select((a, i) => a == i).All(s => s)) return x;
        return Node("Transpose", [x.Name], x.Type, p.Select(a => x.Dims[(int)a]).ToArray(), Attr.Ints("perm", p));
    }

    public TensorValue Unsqueeze(TensorValue x, params long[] axes)
    {
        var rank = x.Rank + axes.Length;
        var norm = axes.Select(a => a < 0 ? a + rank : a).Order().ToArray();
        var dims = new List<SymInt>(x.Dims);
        foreach (var a in norm) dims.Insert((int)a, SymInt.Of(1));
        return Node("Unsqueeze", [x.Name, G.Int64s(norm)], x.Type, dims);
    }

    public TensorValue Squeeze(TensorValue x, params long[] axes)
    {
        var norm = axes.Select(a => TensorValue.NormalizeAxis(a, x.Rank)).ToHashSet();
        if (norm.Count == 0) return x;
        var dims = x.Dims.Where((_, i) => !norm.Contains(i)).ToArray();
        return Node("Squeeze", [x.Name, G.Int64s(norm.Order().ToArray())], x.Type, dims);
    }

    /// <summary>Reshape to sizes that may include -1 and dynamic sizes; a dynamic size that is the input's own dim at
    /// the same position becomes 0 (copy), which keeps the batch axis dynamic without reading shapes.</summary>
    public TensorValue Reshape(TensorValue x, IReadOnlyList<SymInt> target)
    {
        var pieces = new SymInt[target.Count];
        var dims = new SymInt?[target.Count];
        var inferred = -1;
        for (var i = 0; i < target.Count; i++)
        {
            var t = target[i];
            if (t.IsKnown && t.Value == -1) { inferred = i; pieces[i] = t; continue; }
            dims[i] = t;
            pieces[i] = !t.IsKnown && i < x.Rank && x.Dims[i].SameAs(t) ? SymInt.Of(0) : t;
        }
        if (inferred >= 0)
        {
            var total = x.StaticShape is { } s ? NdArray.ElementCount(s) : (long?)null;
            var rest = dims.Where(d => d is not null).ToArray();
            if (total is not null && rest.All(d => d!.IsKnown))
                dims[inferred] = SymInt.Of(total.Value / Math.Max(1, rest.Aggregate(1L, (p, d) => p * d!.Value!.Value)));
            else if (x.StaticShape is null)
            {
                // The batch is the only unknown in the input and stays among the kept dims: the rest is static.
                var knownIn = x.Dims.Where(d => d.IsKnown).Aggregate(1L, (p, d) => p * d.Value!.Value);
                var unknownIn = x.Dims.Where(d => !d.IsKnown).ToArray();
                var unknownOut = rest.Where(d => !d!.IsKnown).ToArray();
                if (unknownIn.Length == unknownOut.Length && unknownIn.All(u => unknownOut.Any(o => o!.SameAs(u))))
                    dims[inferred] = SymInt.Of(knownIn / Math.Max(1, rest.Where(d => d!.IsKnown).Aggregate(1L, (p, d) => p * d!.Value!.Value)));
            }
        }
        if (x.Rank == dims.Length && dims.Select((d, i) => d is not null && d.SameAs(x.Dims[i])).All(s => s)) return x;
        return Node("Reshape", [x.Name, G.ShapeTensor(pieces)], x.Type, dims);
    }

    public TensorValue Slice(TensorValue x, long axis, long start, long end, long step = 1)
    {
        axis = TensorValue.NormalizeAxis(axis, x.Rank);
        var d = x.Dims[(int)axis];
        if (start == 0 && step == 1 && (end >= long.MaxValue / 2 || d.IsKnown && end >= d.Value)) return x;
        SymInt? outDim = null;
        if (d.IsKnown)
        {
            var n = d.Value!.Value;
            long s = start < 0 ? Math.Max(0, start + n) : Math.Min(start, n);
            long e = end < 0 ? Math.Max(0, end + n) : Math.Min(end, n);
            outDim = SymInt.Of(Math.Max(0, (e - s + step - 1) / step));
        }
        var dims = x.Dims.Select((v, i) => i == axis ? outDim : v).ToArray();
        if (x.Constant is { Length: <= FoldLimit } && outDim is not null && step > 0)
        {
            var view = ConstantView.Of(x).Narrow((int)axis, start < 0 ? start + d.Value!.Value : Math.Min(start, d.Value!.Value), step,
                outDim.Value!.Value);
            return ViewConstant(view, x.Type, view.Count);
        }
        return Node("Slice", [x.Name, G.Int64s(start), G.Int64s(Math.Min(end, long.MaxValue)), G.Int64s(axis), G.Int64s(step)], x.Type, dims);
    }

    /// <summary>Picks index along axis, dropping the axis (torch.select).</summary>
    public TensorValue Select(TensorValue x, long axis, long index)
    {
        axis = TensorValue.NormalizeAxis(axis, x.Rank);
        var dims = x.Dims.Where((_, i) => i != axis).ToArray();
        if (x.Constant is { Length: <= FoldLimit } && x.Dims[(int)axis].Value is { } n)
        {
            // A row of a constant stays a constant (and a view of it, so mask[1, idx] = v writes through).
            var row = ConstantView.Of(x).Narrow((int)axis, index < 0 ? index + n : index, 1, 1);
            return ViewConstant(row, x.Type, dims.Select(d => d.Value!.Value).ToArray());
        }
        return Node("Gather", [x.Name, G.Scalar(index, TensorElementType.Int64)], x.Type, dims, Attr.Int("axis", axis));
    }

    /// <summary>What a view of a constant reads, as a constant of <paramref name="shape"/> that remembers the view.</summary>
    private TensorValue ViewConstant(ConstantView view, TensorElementType type, long[] shape)
    {
        var constant = Constant(NdArray.FromDoubles(type, shape, view.Read()));
        return new TensorValue(constant.Name, constant.Type, constant.Dims, constant.Constant) { View = view };
    }

    public TensorValue Concat(IReadOnlyList<TensorValue> parts, long axis)
    {
        if (parts.Count == 1) return parts[0];
        var rank = parts[0].Rank;
        axis = TensorValue.NormalizeAxis(axis, rank);
        var sizes = parts.Select(p => p.Dims[(int)axis]).ToArray();
        var total = sizes.All(s => s.IsKnown) ? SymInt.Of(sizes.Sum(s => s.Value!.Value)) : null;
        var dims = parts[0].Dims.Select((d, i) => i == axis ? total : d).ToArray();
        var type = parts[0].Type;
        return Node("Concat", parts.Select(p => Cast(p, type).Name).ToArray(), type, dims, Attr.Int("axis", axis));
    }

    public TensorValue[] Split(TensorValue x, long axis, IReadOnlyList<long> sizes)
    {
        axis = TensorValue.NormalizeAxis(axis, x.Rank);
        if (sizes.Count == 1) return [x];
        var names = G.Node("Split", [x.Name, G.Int64s(sizes.ToArray())], sizes.Count, [Attr.Int("axis", axis)]);
        return names.Select((n, k) => new TensorValue(n, x.Type, x.Dims.Select((d, i) => i == axis ? SymInt.Of(sizes[k]) : d).ToArray())).ToArray();
    }

    /// <summary>Reduce over axes; opset 18 moved ReduceMean/Max/… axes from an attribute to an input (ReduceSum in 13).</summary>
    public TensorValue Reduce(string op, TensorValue x, IReadOnlyList<long>? axes, bool keepDims)
    {
        var norm = (axes is null || axes.Count == 0
            ? Enumerable.Range(0, x.Rank).Select(i => (long)i)
            : axes.Select(a => TensorValue.NormalizeAxis(a, x.Rank))).Order().ToArray();
        var dims = keepDims
            ? x.Dims.Select((d, i) => norm.Contains(i) ? SymInt.Of(1) : d).ToArray()
            : x.Dims.Where((_, i) => !norm.Contains(i)).ToArray();
        var axesAsInput = op == "ReduceSum" || Opset >= 18;
        return axesAsInput
            ? Node(op, [x.Name, G.Int64s(norm)], x.Type, dims, Attr.Int("keepdims", keepDims ? 1 : 0))
            : Node(op, [x.Name], x.Type, dims, Attr.Ints("axes", norm), Attr.Int("keepdims", keepDims ? 1 : 0));
    }

    public TensorValue MatMul(TensorValue a, TensorValue b)
    {
        IReadOnlyList<SymInt?> dims;
        if (a.Rank == 1 && b.Rank == 1) dims = [];
        else if (b.Rank == 1) dims = a.Dims.Take(a.Rank - 1).ToArray();
        else if (a.Rank == 1) dims = b.Dims.Take(b.Rank - 2).Append(b.Dims[^1]).ToArray();
        else
        {
            var batch = Broadcast(a.Dims.Take(a.Rank - 2).ToArray(), b.Dims.Take(b.Rank - 2).ToArray());
            dims = batch.Append(a.Dims[^2]).Append(b.Dims[^1]).ToArray();
        }
        return Node("MatMul", [a.Name, b.Name], a.Type, dims);
    }

    /// <summary>Transposes a 2-D constant at conversion time (weights), else emits Transpose.</summary>
    public TensorValue Transpose2D(TensorValue w)
    {
        if (w.Constant is { } c && w.Rank == 2 && c.Data is float[] f)
        {
            long rows = c.Shape[0], cols = c.Shape[1];
            var t = new float[f.Length];
            for (long i = 0; i < rows; i++)
                for (long j = 0; j < cols; j++)
                    t[j * rows + i] = f[i * cols + j];
            return Constant(new NdArray(c.ElementType, [cols, rows], t));
        }
        return Transpose(w, [1, 0]);
    }
}
