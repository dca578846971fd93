using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// Python-level arithmetic and comparisons on ints, floats, bools and sizes, folded at conversion time. Dynamic
/// sizes (the batch) stay symbolic: their arithmetic becomes small int64 nodes. Tensor operands go to the graph.
/// </summary>
public static class ScalarMath
{
    public static object? Binary(string op, object? a, object? b, Emitter emit)
    {
        a = Unwrap(a);
        b = Unwrap(b);
        switch (op)
        {
            case "is": return Same(a, b);
            case "is not": return !Same(a, b);
            case "in": return Ops.ContainerOps.Contains(b, a);
            case "not in": return !Ops.ContainerOps.Contains(b, a);
        }
        if (op is "==" or "!=" && a is List<object?> or TupleValue && b is List<object?> or TupleValue)
            return SequenceEquals(op, Interpreter.Items(a, op), Interpreter.Items(b, op), emit);
        if (a is TensorValue || b is TensorValue)
        {
            var onnxOp = op switch { "+" => "Add", "-" => "Sub", "*" => "Mul", "/" => "Div", "**" => "Pow", _ => null }
                ?? throw ConversionError.Unsupported($"operator {op} on tensors");
            return emit.Binary(onnxOp, a, b);
        }
        if (a is SymInt sa && !sa.IsKnown || b is SymInt sb && !sb.IsKnown) return DynamicInt(op, a, b, emit);
        a = Plain(a);
        b = Plain(b);
        if (a is string sa2 && b is string sb2)
            return op switch { "==" => sa2 == sb2, "!=" => sa2 != sb2, "+" => sa2 + sb2,
                _ => throw ConversionError.Unsupported($"operator {op} on strings") };
        if (a is null || b is null)
            return op switch { "==" => a == b, "!=" => a != b, _ => throw new ConversionError($"operator {op} on None") };
        // [q] + k.chunk(2) in F.multi_head_attention_forward: chunk gives a tuple-like sequence.
        if (op == "+" && a is List<object?> or TupleValue && b is List<object?> or TupleValue)
            return Interpreter.Items(a, op).Concat(Interpreter.Items(b, op)).ToList();
        if (IsInt(a) && IsInt(b))
        {
            long x = ToLong(a, op), y = ToLong(b, op);
            return op switch
            {
                "+" => x + y, "-" => x - y, "*" => x * y,
                "/" => (double)x / y,
                "//" => FloorDiv(x, y),
                "%" => ((x % y) + y) % y,
                "**" => (long)Math.Pow(x, y),
                "==" => x == y, "!=" => x != y, "<" => x < y, ">" => x > y, "<=" => x <= y, ">=" => x >= y,
                "&" => x & y, "|" => x | y, "^" => x ^ y, "<<" => x << (int)y, ">>" => x >> (int)y,
                _ => throw ConversionError.Unsupported($"operator {op} on ints"),
            };
        }
        double p = ToDouble(a, op), q = ToDouble(b, op);
        return op switch
        {
            "+" => p + q, "-" => p - q, "*" => p * q, "/" => p / q,
            "//" => Math.Floor(p / q), "%" => p - Math.Floor(p / q) * q, "**" => Math.Pow(p, q),
            "==" => p == q, "!=" => p != q, "<" => p < q, ">" => p > q, "<=" => p <= q, ">=" => p >= q,
            _ => throw ConversionError.Unsupported($"operator {op} on floats"),
        };
    }

    /// <summary>Lists compare item by item (shape checks such as key.size() == value.size()); an unknown item makes the
    /// answer unknown unless another item already differs.</summary>
    private static object SequenceEquals(string op, IReadOnlyList<object?> a, IReadOnlyList<object?> b, Emitter emit)
    {
        if (a.Count != b.Count) return op == "!=";
        UnknownCondition? unknown = null;
        for (var i = 0; i < a.Count; i++)
        {
            switch (Binary("==", a[i], b[i], emit))
            {
                case false: return op == "!=";
                case UnknownCondition u: unknown ??= u; break;
                case true: break;
                default: throw new ConversionError("comparing lists of tensors depends on tensor values, which are not known when converting");
            }
        }
        return unknown is null ? op == "==" : unknown;
    }

    private static bool Same(object? a, object? b) => a is null || b is null ? a is null && b is null : ReferenceEquals(a, b) || Equals(a, b);

    private static long FloorDiv(long x, long y) => (long)Math.Floor((double)x / y);

    /// <summary>Arithmetic on a size known only at run time: int64 [1] tensors and a new symbolic size.</summary>
    private static object DynamicInt(string op, object? a, object? b, Emitter emit)
    {
        if (op is "==" or "!=" && a is SymInt x && b is SymInt y && x.SameAs(y)) return op == "==";
        if (op == "/" && a is SymInt { IsKnown: false } numerator && b is not SymInt { IsKnown: false })
            return new SymRatio(numerator, ToDouble(b, op));
        if (op is "==" or "!=" or "<" or ">" or "<=" or ">=")
            return new UnknownCondition($"'{op}' on a dynamic size cannot be folded; give that axis a fixed size in the manifest");
        var onnx = op switch { "+" => "Add", "-" => "Sub", "*" => "Mul", "//" => "Div", _ => null }
            ?? throw new ConversionError($"'{op}' on a dynamic size cannot be folded; give that axis a fixed size in the manifest");
        if (op == "*" && IsInt(a) && ToLong(a, op) == 1) return b!;
        if (op is "*" or "//" && IsInt(b) && ToLong(b, op) == 1) return a!;
        var left = emit.G.SizeTensor(AsSym(a));
        var right = emit.G.SizeTensor(AsSym(b));
        var name = emit.G.Node1(onnx, [left, right]);
        return SymInt.Computed($"({AsSym(a)}{op}{AsSym(b)})", name);
    }

    private static ConversionError RatioOutsideInt(SymRatio r, string what) =>
        new($"{what} uses ({r}), a dynamic size divided with '/', which converts only inside int(); " +
            "use '//' or give that axis a fixed size in the manifest");

    /// <summary>int() of a dynamic size divided by a whole number: floor division as a size.</summary>
    public static object Truncate(SymRatio ratio, Emitter emit) =>
        ratio.Divisor > 0 && ratio.Divisor == Math.Floor(ratio.Divisor)
            ? Binary("//", ratio.Numerator, (long)ratio.Divisor, emit)!
            : throw new ConversionError($"int() of a dynamic size divided by {ratio.Divisor}; give that axis a fixed size in the manifest");

    private static SymInt AsSym(object? v) => v as SymInt ?? SymInt.Of(ToLong(v, "size"));

    /// <summary>0-d constant tensors (CONSTANTS.cN, NumToTensor) behave as Python numbers in shape arithmetic.</summary>
    public static object? Unwrap(object? v) => v switch
    {
        TensorValue { Constant: { } c, Rank: 0 } => c.ElementType switch
        {
            TensorElementType.Float32 or TensorElementType.Float64 or TensorElementType.Float16 => c.ToDoubles()[0],
            TensorElementType.Bool => c.ToDoubles()[0] != 0,
            _ => (long)c.ToDoubles()[0],
        },
        _ => v,
    };

    private static object? Plain(object? v) => v is SymInt { IsKnown: true } s ? s.Value!.Value : v;

    public static bool IsInt(object? v) => v is long or int or bool || v is SymInt { IsKnown: true };

    public static bool IsScalar(object? v) => v is long or int or double or float or bool or SymInt || Unwrap(v) is long or double or bool;

    public static long ToLong(object? v, string what) => Unwrap(v) switch
    {
        long l => l,
        int i => i,
        bool b => b ? 1 : 0,
        double d => (long)d,
        SymInt { IsKnown: true } s => s.Value!.Value,
        SymInt => throw new ConversionError($"{what} depends on a dynamic size; give that axis a fixed size in the manifest"),
        SymRatio r => throw RatioOutsideInt(r, what),
        TensorValue t => throw new ConversionError($"{what} needs the value of a tensor computed at run time ({Interpreter.Describe(t)}): " +
            "sizes and indices must be known when converting; shapes that depend on tensor values are not supported"),
        var other => throw new ConversionError($"expected an int for {what}, got {Interpreter.Describe(other)}"),
    };

    public static double ToDouble(object? v, string what) => Unwrap(v) switch
    {
        double d => d,
        float f => f,
        long l => l,
        int i => i,
        bool b => b ? 1 : 0,
        SymInt { IsKnown: true } s => s.Value!.Value,
        SymRatio r => throw RatioOutsideInt(r, what),
        var other => throw new ConversionError($"expected a number for {what}, got {Interpreter.Describe(other)}"),
    };

    /// <summary>An int that may be a dynamic size.</summary>
    public static SymInt ToSym(object? v, string what) => Unwrap(v) switch
    {
        SymInt s => s,
        var other => SymInt.Of(ToLong(other, what)),
    };
}
