namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>
/// In-place writes. The converter's values are immutable, so a write can only be honoured where nothing else could
/// observe the old value: a constant being filled in (a mask built in forward). Writes into computed tensors are
/// reported as unsupported, with the op named.
/// </summary>
public static class InPlaceOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Write(c, c.Tensor(0, "self"), c.Arg(1, "value")), "fill_");
        r.Add(c => Write(c, c.Tensor(0, "self"), c.Arg(1, "src")), "copy_");
        r.Add(c => Write(c, c.Tensor(0, "self"), 0L), "zero_");
        r.Add(IndexPutInPlace, "index_put_");
    }

    /// <summary>x[idx] = v on a constant (a mask built in forward), with constant indices and values: folded.</summary>
    private static object IndexPutInPlace(OpCall c)
    {
        var target = c.Tensor(0, "self");
        if (target.Constant is null || target.Rank == 0)
            throw c.Unsupported("writing into a computed tensor in place (x[idx] = v on an activation; only constants " +
                "built in forward() can be written)");
        var updated = IndexedWrite.Apply(c, target.Constant, c.Required(1, "indices"), c.Tensor(2, "values"), c.Bool(3, "accumulate"));
        ConstantView.Of(target).Write(c.G, updated.ToDoubles());
        return target;
    }

    private static object Write(OpCall c, TensorValue target, object? value)
    {
        var values = ScalarMath.Unwrap(value) switch
        {
            TensorValue { Constant: { } data } => data.ToDoubles(),
            TensorValue => throw c.Unsupported("writing a computed tensor in place (its value must be known at conversion time)"),
            var number => [ScalarMath.ToDouble(number, c.Op)],
        };
        if (target.Constant is null || target.Rank == 0)
            throw c.Unsupported("writing into a computed tensor in place (only constants built in forward() can be filled)");
        var view = ConstantView.Of(target);
        if (values.Length != 1 && values.Length != target.Constant.Length)
            throw c.Unsupported($"{c.Op} of {values.Length} values into {target.Constant.Length}");
        view.Write(c.G, values);
        return target;
    }
}
