namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>Pointwise activations and math. PyTorch semantics where ONNX differs: hardsigmoid is x/6+1/2, gelu is
/// spelled out (ONNX Gelu arrives only in opset 20), clip bounds are inputs (opset ≥ 11).</summary>
public static class ActivationOps
{
    public static void Register(OpRegistry r)
    {
        foreach (var (name, op) in new[]
        {
            ("relu", "Relu"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"), ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"),
            ("abs", "Abs"), ("neg", "Neg"), ("erf", "Erf"), ("floor", "Floor"), ("ceil", "Ceil"), ("sin", "Sin"),
            ("cos", "Cos"), ("reciprocal", "Reciprocal"), ("sign", "Sign"), ("round", "Round"), ("logical_not", "Not"),
        })
        {
            r.Add(c => c.E.Unary(op, c.Tensor(0, "self")), name, name + "_");
        }
        r.Add(c => c.E.Unary("Reciprocal", c.E.Unary("Sqrt", c.Tensor(0, "self"))), "rsqrt");
        r.Add(c => Clip(c, c.Tensor(0, "self"), 0, 6), "relu6", "relu6_");
        r.Add(c => Clip(c, c.Tensor(0, "self"), c.Double(1, "min_val", -1), c.Double(2, "max_val", 1)), "hardtanh", "hardtanh_");
        r.Add(c => Clip(c, c.Tensor(0, "self"), Optional(c, 1, "min"), Optional(c, 2, "max")), "clamp", "clamp_", "clip");
        r.Add(c => Clip(c, c.Tensor(0, "self"), c.Double(1, "min"), null), "clamp_min", "clamp_min_");
        r.Add(c => Clip(c, c.Tensor(0, "self"), null, c.Double(1, "max")), "clamp_max", "clamp_max_");
        r.Add(c => c.E.Unary("LeakyRelu", c.Tensor(0, "self"), Attr.Float("alpha", c.Double(1, "negative_slope", 0.01))), "leaky_relu",
            "leaky_relu_");
        r.Add(Elu, "elu", "elu_");
        r.Add(Gelu, "gelu", "gelu_");
        r.Add(c => Silu(c, c.Tensor(0, "self")), "silu", "silu_");
        r.Add(c => HardSigmoid(c, c.Tensor(0, "self")), "hardsigmoid", "hardsigmoid_");
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            return c.E.Opset >= 14 ? c.E.Unary("HardSwish", x) : c.E.Binary("Mul", x, HardSigmoid(c, x));
        }, "hardswish", "hardswish_");
        r.Add(c => Softmax(c, "Softmax"), "softmax", "special_softmax");
        r.Add(c => Softmax(c, "LogSoftmax"), "log_softmax");
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            var beta = c.Double(1, "beta", 1);
            if (beta == 1) return c.E.Unary("Softplus", x);
            var scaled = c.E.Binary("Mul", x, beta);
            return c.E.Binary("Div", c.E.Unary("Softplus", scaled), beta);
        }, "softplus");
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            return c.E.Binary("Mul", x, c.E.Unary("Tanh", c.E.Unary("Softplus", x)));
        }, "mish", "mish_");
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            var w = c.Tensor(1, "weight");
            // PyTorch's per-channel slope is axis 1; ONNX broadcasts from the right.
            if (w.Rank == 1 && x.Rank > 2 && w.Dims[0].Value != 1)
                w = c.E.Unsqueeze(w, Enumerable.Range(1, x.Rank - 2).Select(i => (long)i).ToArray());
            return c.E.Like("PRelu", x, [x.Name, w.Name]);
        }, "prelu");
    }

    private static double? Optional(OpCall c, int i, string name) => c.Arg(i, name) is { } v ? ScalarMath.ToDouble(v, name) : null;

    public static TensorValue Clip(OpCall c, TensorValue x, double? min, double? max)
    {
        var inputs = new List<string> { x.Name, min is { } lo ? c.G.Scalar(lo, x.Type) : "" };
        if (max is { } hi) inputs.Add(c.G.Scalar(hi, x.Type));
        return c.E.Like("Clip", x, inputs);
    }

    public static TensorValue HardSigmoid(OpCall c, TensorValue x) =>
        c.E.Unary("HardSigmoid", x, Attr.Float("alpha", 1.0 / 6), Attr.Float("beta", 0.5));

    public static TensorValue Silu(OpCall c, TensorValue x) => c.E.Binary("Mul", x, c.E.Unary("Sigmoid", x));

    private static object Elu(OpCall c)
    {
        var x = c.Tensor(0, "self");
        var alpha = c.Double(1, "alpha", 1);
        var scale = c.Double(2, "scale", 1);
        var inputScale = c.Double(3, "input_scale", 1);
        if (inputScale != 1) x = c.E.Binary("Mul", x, inputScale);
        var y = c.E.Unary("Elu", x, Attr.Float("alpha", alpha));
        return scale == 1 ? y : c.E.Binary("Mul", y, scale);
    }

    public static TensorValue Gelu(OpCall c) => Gelu(c, c.Tensor(0, "self"), c.String(1, "approximate", "none")!);

    public static TensorValue Gelu(OpCall c, TensorValue x, string approximate)
    {
        var e = c.E;
        TensorValue inner;
        if (approximate == "tanh")
        {
            // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
            var cube = e.Binary("Mul", e.Binary("Mul", x, x), x);
            var sum = e.Binary("Add", x, e.Binary("Mul", cube, 0.044715));
            inner = e.Unary("Tanh", e.Binary("Mul", sum, Math.Sqrt(2 / Math.PI)));
        }
        else if (approximate == "none")
            inner = e.Unary("Erf", e.Binary("Div", x, Math.Sqrt(2))); // 0.5·x·(1 + erf(x/√2))
        else throw c.Unsupported($"gelu approximate='{approximate}'");
        return e.Binary("Mul", e.Binary("Mul", x, e.Binary("Add", inner, 1.0)), 0.5);
    }

    private static object Softmax(OpCall c, string op)
    {
        var x = c.Tensor(0, "self");
        var dim = TensorValue.NormalizeAxis(c.Int(1, "dim"), x.Rank);
        if (TorchDtype.ElementType(c.Arg(2, "dtype")) is { } t) x = c.E.Cast(x, t);
        return c.E.Unary(op, x, Attr.Int("axis", dim));
    }
}
