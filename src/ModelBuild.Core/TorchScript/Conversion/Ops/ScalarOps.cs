namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>Sizes and Python-level values: torch.size, NumToTensor, comparisons on ints, list helpers. Folded when
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
        r.Add(c => new OpaqueValue("dtype"), "ops.prim.dtype");
        r.Add(c => (long)Interpreter.Items(c.Arg(0, "a"), "len").Count, "len");
        r.Add(c => ScalarMath.Binary("is", c.Arg(0, "a"), c.Arg(1, "b"), c.E), "__is__");
        r.Add(c => ScalarMath.Binary("is not", c.Arg(0, "a"), c.Arg(1, "b"), c.E), "__isnot__");
        r.Add(c => !Interpreter.Truth(c.Arg(0, "a"), "not"), "__not__");
        r.Add(c => c.Arg(0, "a") is List<object?> l ? new List<object?>(l) : Interpreter.Items(c.Arg(0, "a"), "list").ToList(), "list");
        r.Add(c =>
        {
            var list = c.Arg(0, "self") as List<object?> ?? throw c.Unsupported("append to a non-list");
            list.Add(c.Arg(1, "el"));
            return list;
        }, "append");
        r.Add(c =>
        {
            var items = Interpreter.Items(c.Arg(0, "self"), "index");
            var i = c.Int(1, "idx");
            return items[(int)(i < 0 ? i + items.Count : i)];
        }, "__getitem__", "ops.aten.__getitem__");
        r.Add(c => ScalarMath.Binary("//", c.Arg(0, "a"), c.Arg(1, "b"), c.E), "floordiv");
        r.Add(c => throw new ConversionError($"the model raises an exception for these inputs and flags: {c.Arg(0, "msg")}"),
            "ops.prim.RaiseException");
        r.Add(c => null, "warn", "ops.aten.warn");
        r.Add(c => c.Arg(0, "a") is string s ? s : "", "format");
        r.Add(c => (bool)c.Bool(0, "a"), "Bool");
        r.Add(c => c.Arg(0, "a") is string s && s == "cpu" ? new OpaqueValue("device") : new OpaqueValue("device"), "ops.prim.device");
        r.Add(c => Math.Sqrt(c.Double(0, "x")), "math.sqrt", "sqrt_scalar");
    }

    private static object ScalarFromTensor(OpCall c, TensorValue t)
    {
        var v = ScalarMath.Unwrap(t);
        if (v is not TensorValue) return ScalarMath.ToLong(v, "int");
        throw c.Unsupported("reading a tensor's value as a Python int (data-dependent)");
    }
}
