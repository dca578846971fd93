namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>
/// F.pad and the padding modules: <c>pad(x, pad, mode, value)</c>, <c>constant_pad_nd</c>, <c>reflection_pad*</c>,
/// <c>replication_pad*</c>, circular padding. PyTorch lists pads from the last axis backwards as (begin, end) pairs;
/// ONNX Pad wants all begins then all ends, first axis first. Negative pads crop, as in PyTorch.
/// </summary>
public static class PaddingOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Pad(c, c.Tensor(0, "self"), c.Ints(1, "pad"), c.String(2, "mode", "constant")!, c.Arg(3, "value")), "pad");
        r.Add(c => Pad(c, c.Tensor(0, "self"), c.Ints(1, "pad"), "constant", c.Arg(2, "value")), "constant_pad_nd");
        foreach (var n in new[] { 1, 2, 3 })
        {
            r.Add(c => Pad(c, c.Tensor(0, "self"), c.Ints(1, "padding"), "reflect", null), $"reflection_pad{n}d");
            r.Add(c => Pad(c, c.Tensor(0, "self"), c.Ints(1, "padding"), "replicate", null), $"replication_pad{n}d");
            r.Add(c => Pad(c, c.Tensor(0, "self"), c.Ints(1, "pad"), "circular", null), $"_pad_circular{n}d");
        }
        r.Add(c => Pad(c, c.Tensor(0, "self"), c.Ints(1, "pad"), "circular", null), "_pad_circular");
    }

    public static TensorValue Pad(OpCall c, TensorValue x, long[] pad, string mode, object? value)
    {
        if (pad.Length % 2 != 0 || pad.Length / 2 > x.Rank)
            throw c.Unsupported($"a pad list of {pad.Length} values for a tensor of rank {x.Rank}");
        var begins = new long[x.Rank];
        var ends = new long[x.Rank];
        for (var k = 0; k < pad.Length / 2; k++)
        {
            begins[x.Rank - 1 - k] = pad[2 * k];
            ends[x.Rank - 1 - k] = pad[2 * k + 1];
        }
        if (begins.All(p => p == 0) && ends.All(p => p == 0)) return x;
        if (mode == "circular") return Circular(c, x, begins, ends);

        var onnxMode = mode switch
        {
            "constant" => "constant",
            "reflect" => "reflect",
            "replicate" => "edge",
            _ => throw c.Unsupported($"padding mode '{mode}'"),
        };
        if (onnxMode != "constant" && (begins.Any(p => p < 0) || ends.Any(p => p < 0)))
            throw c.Unsupported($"negative padding in {mode} mode");
        var dims = x.Dims.Select((d, i) => d.IsKnown ? SymInt.Of(d.Value!.Value + begins[i] + ends[i]) : begins[i] + ends[i] == 0 ? d : null)
            .ToArray();
        var inputs = new List<string> { x.Name, c.G.Int64s(begins.Concat(ends).ToArray()) };
        var fill = value is null ? 0 : ScalarMath.ToDouble(value, "pad value");
        if (onnxMode == "constant" && fill != 0) inputs.Add(c.G.Scalar(fill, x.Type));
        return c.E.Node("Pad", inputs, x.Type, dims, Attr.String("mode", onnxMode));
    }

    /// <summary>Circular padding wraps the tensor around: the last 'begin' entries are put in front and the first 'end'
    /// entries behind, axis by axis.</summary>
    private static TensorValue Circular(OpCall c, TensorValue x, long[] begins, long[] ends)
    {
        for (var axis = 0; axis < x.Rank; axis++)
        {
            if (begins[axis] == 0 && ends[axis] == 0) continue;
            if (begins[axis] < 0 || ends[axis] < 0) throw c.Unsupported("negative circular padding");
            var parts = new List<TensorValue>();
            if (begins[axis] > 0) parts.Add(c.E.Slice(x, axis, -begins[axis], long.MaxValue));
            parts.Add(x);
            if (ends[axis] > 0) parts.Add(c.E.Slice(x, axis, 0, ends[axis]));
            x = c.E.Concat(parts, axis);
        }
        return x;
    }
}
