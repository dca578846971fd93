namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>Sizes and Python-level values: torch.size, NumToTensor, dtypes, comparisons on ints. Folded when
/// shapes are static; dynamic sizes stay symbolic.</summary>
public static class ScalarOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c =>
        {
            var x = c.Tensor(0, "self");
            if (!c.Has(1, "dim")) return x.Dims.Select(d => d.IsKnown ? (object?)d.Value!.Value : d).ToList();
            var d = x.Dim(c.Int(1, "dim"));
            return d.IsKnown ? d.Value!.Value : d;
        }, "size");
        r.Add(c => (long)c.Tensor(0, "self").Rank, "dim");
        r.Add(c => c.Tensor(0, "self").StaticShape is { } s
            ? s.Aggregate(1L, (a, b) => a * b)
            : throw c.Unsupported("numel of a tensor with dynamic shape"), "numel");
        // NumToTensor wraps a Python number as a 0-d tensor; keeping the number lets later int() calls fold.
        r.Add(c => c.Arg(0, "a"), "ops.prim.NumToTensor", "scalar_tensor");
        r.Add(c => c.Args.Count > 0 && c.Args[0] is TensorValue t ? ScalarFromTensor(c, t) : ScalarMath.ToLong(c.Arg(0, "a"), "int"), "Int",
            "ops.aten.Int");
        r.Add(c => ScalarMath.ToDouble(c.Arg(0, "a"), "float"), "Float", "ops.aten.Float");
        // ScalarImplicit reads a 0-d tensor as a Python number: folded when known, else the tensor stays a tensor.
        r.Add(c => ScalarMath.Unwrap(c.Arg(0, "a")), "ScalarImplicit", "ops.aten.ScalarImplicit");
        r.Add(c => new OpaqueValue("device"), "device", "ops.prim.device");
        r.Add(c => TorchDtype.Code(c.Tensor(0, "a").Type), "ops.prim.dtype");
        r.Add(c => c.Tensor(0, "self").IsFloat, "is_floating_point");
        // nn.MultiheadAttention and TransformerEncoder ask before their fast paths; converted tensors are never nested.
        r.Add(c => false, "ops.prim.is_nested");
        r.Add(c => false, "is_autocast_enabled", "is_autocast_cpu_enabled", "is_grad_enabled", "ops.prim.is_cuda",
            "ops.prim.requires_grad", "ops.prim.is_mkldnn", "ops.prim.is_sparse", "ops.prim.is_quantized");
        r.Add(c => ScalarMath.Binary("is", c.Arg(0, "a"), c.Arg(1, "b"), c.E), "__is__");
        r.Add(c => ScalarMath.Binary("is not", c.Arg(0, "a"), c.Arg(1, "b"), c.E), "__isnot__");
        r.Add(c => Interpreter.Not(c.Arg(0, "a")), "__not__");
        r.Add(c => ScalarMath.Binary("//", c.Arg(0, "a"), c.Arg(1, "b"), c.E), "floordiv");
        r.Add(c => throw new ConversionError($"the model raises an exception for these inputs and flags: {c.Arg(0, "msg")}"),
            "ops.prim.RaiseException");
        r.Add(c => null, "warn", "ops.aten.warn");
        r.Add(c => (bool)c.Bool(0, "a"), "Bool");
        r.Add(c => Math.Sqrt(c.Double(0, "x")), "math.sqrt", "sqrt_scalar");
    }

    private static object ScalarFromTensor(OpCall c, TensorValue t)
    {
        var v = ScalarMath.Unwrap(t);
        if (v is not TensorValue) return ScalarMath.ToLong(v, "int");
        throw c.Unsupported("reading a tensor's value as a Python int (data-dependent)");
    }
}
