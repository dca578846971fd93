namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>max/avg pooling (PyTorch's avg_pool counts padding by default, ONNX does not) and adaptive average
/// pooling: output 1 is GlobalAveragePool; otherwise the input size must divide evenly into fixed windows.</summary>
public static class PoolingOps
{
    public static void Register(OpRegistry r)
    {
        foreach (var (name, n) in new[] { ("max_pool1d", 1), ("max_pool2d", 2), ("max_pool3d", 3) })
            r.Add(c => MaxPool(c, n), name);
        foreach (var (name, n) in new[] { ("avg_pool1d", 1), ("avg_pool2d", 2), ("avg_pool3d", 3) })
            r.Add(c => AvgPool(c, n), name);
        foreach (var (name, n) in new[] { ("adaptive_avg_pool1d", 1), ("adaptive_avg_pool2d", 2), ("adaptive_avg_pool3d", 3) })
            r.Add(c => Adaptive(c, n, "AveragePool", "GlobalAveragePool"), name);
        foreach (var (name, n) in new[] { ("adaptive_max_pool1d", 1), ("adaptive_max_pool2d", 2) })
            r.Add(c => new TupleValue([Adaptive(c, n, "MaxPool", "GlobalMaxPool"), null]), name);
    }

    private static SymInt?[] OutDims(TensorValue x, long[] kernel, long[] stride, long[] pad, long[] dilation, bool ceil)
    {
        var n = kernel.Length;
        var dims = new SymInt?[x.Rank];
        for (var i = 0; i < x.Rank - n; i++) dims[i] = x.Dims[i];
        for (var i = 0; i < n; i++)
        {
            var d = x.Dims[x.Rank - n + i];
            if (!d.IsKnown) continue;
            var span = d.Value!.Value + 2 * pad[i] - dilation[i] * (kernel[i] - 1) - 1;
            var o = (ceil ? (span + stride[i] - 1) / stride[i] : span / stride[i]) + 1;
            // PyTorch: with ceil_mode the last window must start inside the input or left padding.
            if (ceil && (o - 1) * stride[i] >= d.Value!.Value + pad[i]) o--;
            dims[x.Rank - n + i] = SymInt.Of(o);
        }
        return dims;
    }

    private static TensorValue MaxPool(OpCall c, int n)
    {
        var x = c.Tensor(0, "self");
        var kernel = c.Ints(1, "kernel_size", repeat: n);
        var stride = c.Ints(2, "stride", kernel, n) is { Length: > 0 } s ? s : kernel;
        var pad = c.Ints(3, "padding", new long[n], n);
        var dilation = c.Ints(4, "dilation", Enumerable.Repeat(1L, n).ToArray(), n);
        var ceil = c.Bool(5, "ceil_mode");
        return c.E.Node("MaxPool", [x.Name], x.Type, OutDims(x, kernel, stride, pad, dilation, ceil),
            Attr.Ints("kernel_shape", kernel), Attr.Ints("strides", stride), Attr.Ints("pads", pad.Concat(pad)),
            Attr.Ints("dilations", dilation), Attr.Int("ceil_mode", ceil ? 1 : 0));
    }

    private static TensorValue AvgPool(OpCall c, int n)
    {
        var x = c.Tensor(0, "self");
        var kernel = c.Ints(1, "kernel_size", repeat: n);
        var stride = c.Ints(2, "stride", kernel, n) is { Length: > 0 } s ? s : kernel;
        var pad = c.Ints(3, "padding", new long[n], n);
        var ceil = c.Bool(4, "ceil_mode");
        var countPad = c.Bool(5, "count_include_pad", true);
        if (c.Arg(6, "divisor_override") is not null) throw c.Unsupported("avg_pool with divisor_override");
        return c.E.Node("AveragePool", [x.Name], x.Type, OutDims(x, kernel, stride, pad, Enumerable.Repeat(1L, n).ToArray(), ceil),
            Attr.Ints("kernel_shape", kernel), Attr.Ints("strides", stride), Attr.Ints("pads", pad.Concat(pad)),
            Attr.Int("ceil_mode", ceil ? 1 : 0), Attr.Int("count_include_pad", countPad ? 1 : 0));
    }

    private static TensorValue Adaptive(OpCall c, int n, string pool, string global)
    {
        var x = c.Tensor(0, "self");
        var output = c.Ints(1, "output_size", repeat: n);
        var spatial = x.Dims.Skip(x.Rank - n).ToArray();
        if (output.All(o => o == 1))
            return c.E.Node(global, [x.Name], x.Type, x.Dims.Take(x.Rank - n).Concat(Enumerable.Repeat(SymInt.Of(1), n)).ToArray());
        if (spatial.Any(d => !d.IsKnown))
            throw c.Unsupported($"adaptive pooling to {string.Join("x", output)} over dynamic spatial sizes (give them fixed sizes in the manifest)");
        var sizes = spatial.Select(d => d.Value!.Value).ToArray();
        if (sizes.Where((s, i) => s % output[i] != 0).Any()) return Uneven(c, x, sizes, output, pool == "MaxPool" ? "ReduceMax" : "ReduceMean");
        var kernel = sizes.Select((s, i) => s / output[i]).ToArray();
        var attrs = new List<global::Onnx.AttributeProto> { Attr.Ints("kernel_shape", kernel), Attr.Ints("strides", kernel) };
        return c.E.Node(pool, [x.Name], x.Type, x.Dims.Take(x.Rank - n).Concat(output.Select(SymInt.Of)).ToArray(), attrs.ToArray());
    }

    /// <summary>Adaptive pooling whose windows differ in size (7 from 2, 5 from 40, 6 from 1): PyTorch's window i covers
    /// [floor(i·in/out), ceil((i+1)·in/out)). Max and mean over a box are separable, so each axis is pooled on its own:
    /// one Slice + Reduce per output cell, concatenated.</summary>
    private static TensorValue Uneven(OpCall c, TensorValue x, long[] sizes, long[] output, string reduce)
    {
        var n = sizes.Length;
        for (var i = 0; i < n; i++)
        {
            var axis = x.Rank - n + i;
            if (sizes[i] == output[i]) continue;
            var cells = new List<TensorValue>();
            for (long o = 0; o < output[i]; o++)
            {
                var start = o * sizes[i] / output[i];
                var end = ((o + 1) * sizes[i] + output[i] - 1) / output[i];
                cells.Add(c.E.Reduce(reduce, c.E.Slice(x, axis, start, end), [axis], keepDims: true));
            }
            x = c.E.Concat(cells, axis);
        }
        return x;
    }
}
