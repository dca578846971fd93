using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>add/sub/mul/div/pow and comparisons, with broadcasting, scalars and alpha. When every operand is a
/// Python number or size, the op is folded (shape arithmetic).</summary>
public static class ArithmeticOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => AddSub(c, "Add", "+", false), "add", "add_");
        r.Add(c => AddSub(c, "Sub", "-", false), "sub", "sub_", "subtract");
        r.Add(c => AddSub(c, "Sub", "-", true), "rsub");
        r.Add(c => Simple(c, "Mul", "*"), "mul", "mul_", "multiply");
        r.Add(Div, "div", "div_", "true_divide", "divide");
        r.Add(c => Simple(c, "Pow", "**"), "pow");
        r.Add(c => Floor(c, Simple(c, "Div", "//")), "floor_divide");
        r.Add(c => Compare(c, "Equal", "=="), "eq");
        r.Add(c => Compare(c, "Not", "!="), "ne");
        r.Add(c => Compare(c, "Less", "<"), "lt");
        r.Add(c => Compare(c, "Greater", ">"), "gt");
        r.Add(c => Compare(c, "LessOrEqual", "<="), "le");
        r.Add(c => Compare(c, "GreaterOrEqual", ">="), "ge");
        r.Add(c => ScalarMath.Binary("%", c.Arg(0, "self"), c.Arg(1, "other"), c.E), "remainder");
        // Masks: ~m, m & n, m | n, m ^ n (and the logical_* forms, which read any tensor as "non-zero").
        r.Add(c => Logical(c, "And", bitwise: true), "bitwise_and", "bitwise_and_", "__and__", "__iand__");
        r.Add(c => Logical(c, "Or", bitwise: true), "bitwise_or", "bitwise_or_", "__or__", "__ior__");
        r.Add(c => Logical(c, "Xor", bitwise: true), "bitwise_xor", "bitwise_xor_", "__xor__", "__ixor__");
        r.Add(c => Logical(c, "And", bitwise: false), "logical_and", "logical_and_");
        r.Add(c => Logical(c, "Or", bitwise: false), "logical_or", "logical_or_");
        r.Add(c => Logical(c, "Xor", bitwise: false), "logical_xor", "logical_xor_");
        r.Add(BitwiseNot, "bitwise_not", "bitwise_not_", "__invert__");
    }

    /// <summary>
    /// And/Or/Xor of masks. The bitwise forms of integer tensors have ONNX ops only from opset 18 (BitwiseAnd, …);
    /// the logical forms compare with zero first, as PyTorch does.
    /// </summary>
    private static TensorValue Logical(OpCall c, string op, bool bitwise)
    {
        var a = c.Tensor(0, "self");
        var b = c.Arg(1, "other") is TensorValue t ? t : c.E.AsTensor(c.Arg(1, "other"), a.Type);
        if (a.Type == TensorElementType.Bool && b.Type == TensorElementType.Bool) return c.E.Binary(op, a, b);
        if (!bitwise) return c.E.Binary(op, NonZero(c, a), NonZero(c, b));
        if (c.E.Opset < 18) throw c.Unsupported($"{c.Op} of {a.Type} tensors below opset 18 (set export.onnx.opset: 18, or use bool masks)");
        if (b.Type != a.Type) b = c.E.Cast(b, a.Type);
        return c.E.Binary("Bitwise" + op, a, b);
    }

    /// <summary>~x: Not of a mask; of an integer −x − 1 (two's complement), which needs no opset-18 BitwiseNot.</summary>
    private static TensorValue BitwiseNot(OpCall c)
    {
        var x = c.Tensor(0, "self");
        if (x.Type == TensorElementType.Bool) return c.E.Unary("Not", x);
        if (x.IsFloat) throw c.Unsupported("bitwise_not of a floating-point tensor");
        return c.E.Binary("Sub", c.E.Unary("Neg", x), 1L);
    }

    private static TensorValue NonZero(OpCall c, TensorValue x) =>
        x.Type == TensorElementType.Bool ? x : c.E.Unary("Not", c.E.Binary("Equal", x, 0L));

    private static bool BothScalar(object? a, object? b) =>
        a is not TensorValue || ScalarMath.Unwrap(a) is not TensorValue
            ? (b is not TensorValue || ScalarMath.Unwrap(b) is not TensorValue)
            : false;

    private static object? AddSub(OpCall c, string op, string pyOp, bool reversed)
    {
        var a = c.Arg(0, "self");
        var b = c.Arg(1, "other");
        var alpha = c.Arg(2, "alpha");
        if (alpha is not null && ScalarMath.ToDouble(alpha, "alpha") != 1)
            b = ScalarMath.IsScalar(b) && ScalarMath.Unwrap(b) is not TensorValue
                ? ScalarMath.Binary("*", b, alpha, c.E)
                : c.E.Binary("Mul", b, alpha);
        if (reversed) (a, b) = (b, a);
        if (BothScalar(a, b)) return ScalarMath.Binary(pyOp, a, b, c.E);
        return c.E.Binary(op, a, b);
    }

    private static object? Simple(OpCall c, string op, string pyOp)
    {
        var a = c.Arg(0, "self");
        var b = c.Arg(1, "other");
        if (BothScalar(a, b)) return ScalarMath.Binary(pyOp, a, b, c.E);
        return c.E.Binary(op, a, b);
    }

    private static object? Div(OpCall c)
    {
        var a = c.Arg(0, "self");
        var b = c.Arg(1, "other");
        var mode = c.String(2, "rounding_mode");
        if (BothScalar(a, b))
        {
            if (mode is null) return ScalarMath.Binary("/", a, b, c.E);
            if (ScalarMath.IsInt(ScalarMath.Unwrap(a)) && ScalarMath.IsInt(ScalarMath.Unwrap(b)) || a is SymInt || b is SymInt)
                return ScalarMath.Binary("//", a, b, c.E); // sizes are non-negative: trunc and floor agree
            var q = ScalarMath.ToDouble(a, "div") / ScalarMath.ToDouble(b, "div");
            return mode == "floor" ? Math.Floor(q) : Math.Truncate(q);
        }
        var result = c.E.Binary("Div", a, b);
        if (mode is null || !result.IsFloat) return result;
        if (mode == "floor") return c.E.Unary("Floor", result);
        // trunc: round toward zero
        var floor = c.E.Unary("Floor", c.E.Unary("Abs", result));
        return c.E.Binary("Mul", floor, c.E.Unary("Sign", result));
    }

    private static object? Floor(OpCall c, object? v) => v is TensorValue { IsFloat: true } t ? c.E.Unary("Floor", t) : v;

    private static object? Compare(OpCall c, string op, string pyOp)
    {
        var a = c.Arg(0, "self");
        var b = c.Arg(1, "other");
        if (BothScalar(a, b)) return ScalarMath.Binary(pyOp, a, b, c.E);
        if (op == "Not") return c.E.Unary("Not", c.E.Binary("Equal", a, b));
        return c.E.Binary(op, a, b);
    }
}
