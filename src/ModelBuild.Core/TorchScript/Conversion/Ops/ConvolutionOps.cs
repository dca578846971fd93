namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>Convolutions as traced (aten::_convolution) and scripted (conv1d/2d/3d, conv_transpose): groups,
/// strides, padding (numbers or 'same'/'valid'), dilation.</summary>
public static class ConvolutionOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Conv(c, c.Tensor(0, "input"), c.Tensor(1, "weight"), c.OptionalTensor(2, "bias"), c.Arg(3, "stride"), c.Arg(4, "padding"),
            c.Arg(5, "dilation"), c.Bool(6, "transposed"), c.Arg(7, "output_padding"), c.Int(8, "groups", 1)), "_convolution", "convolution");
        foreach (var name in new[] { "conv1d", "conv2d", "conv3d" })
            r.Add(c => Conv(c, c.Tensor(0, "input"), c.Tensor(1, "weight"), c.OptionalTensor(2, "bias"), c.Arg(3, "stride"), c.Arg(4, "padding"),
                c.Arg(5, "dilation"), false, null, c.Int(6, "groups", 1)), name);
        foreach (var name in new[] { "conv_transpose1d", "conv_transpose2d", "conv_transpose3d" })
            r.Add(c => Conv(c, c.Tensor(0, "input"), c.Tensor(1, "weight"), c.OptionalTensor(2, "bias"), c.Arg(3, "stride"), c.Arg(4, "padding"),
                c.Arg(7, "dilation"), true, c.Arg(5, "output_padding"), c.Int(6, "groups", 1)), name);
    }

    private static long[] Spatial(object? v, int n, long fallback) =>
        v is null ? Enumerable.Repeat(fallback, n).ToArray()
        : ScalarMath.IsInt(v) ? Enumerable.Repeat(ScalarMath.ToLong(v, "conv"), n).ToArray()
        : Interpreter.Items(v, "read conv argument").Select(x => ScalarMath.ToLong(x, "conv")).ToArray() is { Length: 1 } one
            ? Enumerable.Repeat(one[0], n).ToArray()
            : Interpreter.Items(v, "read conv argument").Select(x => ScalarMath.ToLong(x, "conv")).ToArray();

    private static TensorValue Conv(OpCall c, TensorValue x, TensorValue w, TensorValue? bias, object? strideArg, object? padArg,
        object? dilationArg, bool transposed, object? outputPaddingArg, long groups)
    {
        var n = w.Rank - 2;
        var kernel = w.Dims.Skip(2).Select(d => d.Value ?? throw c.Unsupported("weights with dynamic kernel size")).ToArray();
        var stride = Spatial(strideArg, n, 1);
        var dilation = Spatial(dilationArg, n, 1);
        long[] padBegin, padEnd;
        if (padArg is string mode)
        {
            if (mode == "valid") { padBegin = new long[n]; padEnd = new long[n]; }
            else if (mode == "same")
            {
                // PyTorch puts the odd extra padding at the end.
                var total = kernel.Select((k, i) => dilation[i] * (k - 1)).ToArray();
                padBegin = total.Select(t => t / 2).ToArray();
                padEnd = total.Select((t, i) => t - padBegin[i]).ToArray();
            }
            else throw c.Unsupported($"padding='{mode}'");
        }
        else { padBegin = Spatial(padArg, n, 0); padEnd = padBegin; }

        var attrs = new List<global::Onnx.AttributeProto>
        {
            Attr.Ints("kernel_shape", kernel), Attr.Ints("strides", stride), Attr.Ints("dilations", dilation),
            Attr.Ints("pads", padBegin.Concat(padEnd)), Attr.Int("group", groups),
        };
        var inputs = new List<string> { x.Name, w.Name };
        if (bias is not null) inputs.Add(bias.Name);
        var dims = new SymInt?[x.Rank];
        dims[0] = x.Dims[0];
        if (transposed)
        {
            var outPad = Spatial(outputPaddingArg, n, 0);
            if (outPad.Any(p => p != 0)) attrs.Add(Attr.Ints("output_padding", outPad));
            dims[1] = w.Dims[1].IsKnown ? SymInt.Of(w.Dims[1].Value!.Value * groups) : null;
            for (var i = 0; i < n; i++)
            {
                var d = x.Dims[2 + i];
                dims[2 + i] = d.IsKnown
                    ? SymInt.Of((d.Value!.Value - 1) * stride[i] - padBegin[i] - padEnd[i] + dilation[i] * (kernel[i] - 1) + outPad[i] + 1)
                    : null;
            }
            return c.E.Node("ConvTranspose", inputs, x.Type, dims, attrs.ToArray());
        }
        dims[1] = w.Dims[0];
        for (var i = 0; i < n; i++)
        {
            var d = x.Dims[2 + i];
            dims[2 + i] = d.IsKnown
                ? SymInt.Of((d.Value!.Value + padBegin[i] + padEnd[i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i] + 1)
                : null;
        }
        return c.E.Node("Conv", inputs, x.Type, dims, attrs.ToArray());
    }
}
