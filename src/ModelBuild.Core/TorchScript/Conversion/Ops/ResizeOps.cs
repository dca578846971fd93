using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>
/// F.interpolate / nn.Upsample as saved code calls them (<c>upsample_nearest2d</c>, <c>upsample_bilinear2d</c>,
/// <c>upsample_bicubic2d</c>, …) → ONNX Resize. The coordinate rules are PyTorch's: nearest takes
/// floor(dst · in/out) (asymmetric, floor); nearest-exact rounds half-pixel centres; linear and cubic use half-pixel
/// centres (pytorch_half_pixel) or align_corners; cubic uses a = −0.75. Both overloads are read: the one with a
/// size list or scale-factor list (what tracing writes) and the one with per-axis scales (scripted code).
/// </summary>
public static class ResizeOps
{
    public static void Register(OpRegistry r)
    {
        foreach (var n in new[] { 1, 2, 3 })
        {
            r.Add(c => Resize(c, n, "nearest", hasAlignCorners: false), $"upsample_nearest{n}d");
            r.Add(c => Resize(c, n, "nearest-exact", hasAlignCorners: false), $"_upsample_nearest_exact{n}d");
        }
        r.Add(c => Resize(c, 1, "linear", hasAlignCorners: true), "upsample_linear1d");
        r.Add(c => Resize(c, 2, "linear", hasAlignCorners: true), "upsample_bilinear2d");
        r.Add(c => Resize(c, 3, "linear", hasAlignCorners: true), "upsample_trilinear3d");
        r.Add(c => Resize(c, 2, "cubic", hasAlignCorners: true), "upsample_bicubic2d");
        r.Add(GridSample, "grid_sampler", "grid_sampler_2d");
    }

    /// <summary>
    /// F.grid_sample on 4-D inputs (RAFT's correlation lookup, spatial transformers) → ONNX GridSample (opset 16):
    /// grid_sampler(input, grid, interpolation 0 bilinear / 1 nearest / 2 bicubic, padding 0 zeros / 1 border /
    /// 2 reflection, align_corners).
    /// </summary>
    private static TensorValue GridSample(OpCall c)
    {
        var x = c.Tensor(0, "input");
        var grid = c.Tensor(1, "grid");
        if (x.Rank != 4 || grid.Rank != 4) throw c.Unsupported($"grid_sample of a rank-{x.Rank} input (4-D only)");
        if (c.E.Opset < 16) throw c.Unsupported("grid_sample below opset 16 (set export.onnx.opset: 16 or later)");
        var mode = c.Int(2, "interpolation_mode") switch
        {
            0 => "bilinear",
            1 => "nearest",
            2 => "bicubic",
            var other => throw c.Unsupported($"interpolation mode {other}"),
        };
        var padding = c.Int(3, "padding_mode") switch
        {
            0 => "zeros",
            1 => "border",
            2 => "reflection",
            var other => throw c.Unsupported($"padding mode {other}"),
        };
        var alignCorners = c.Bool(4, "align_corners");
        return c.E.Node("GridSample", [x.Name, grid.Name], x.Type, [x.Dims[0], x.Dims[1], grid.Dims[1], grid.Dims[2]],
            Attr.String("mode", mode), Attr.String("padding_mode", padding), Attr.Int("align_corners", alignCorners ? 1 : 0));
    }

    private static TensorValue Resize(OpCall c, int spatial, string mode, bool hasAlignCorners)
    {
        var x = c.Tensor(0, "input");
        if (x.Rank != spatial + 2) throw c.Unsupported($"input of rank {x.Rank} (expected {spatial + 2})");
        var alignCorners = hasAlignCorners && c.Bool(2, "align_corners");
        var scaleIndex = hasAlignCorners ? 3 : 2;
        var size = c.Arg(1, "output_size") is { } s && Interpreter.Items(s, "read output_size of " + c.Op).Count > 0
            ? c.Sizes(1, "output_size") : null;
        var scales = size is null ? Scales(c, scaleIndex, spatial) : null;
        if (size is null && scales is null) throw c.Unsupported("neither an output size nor scale factors");

        var lead = x.Dims.Take(2).ToArray();
        SymInt?[] dims;
        string sizesInput = "", scalesInput = "";
        if (size is not null)
        {
            if (size.Length != spatial) throw c.Unsupported($"an output size of {size.Length} values for {spatial} spatial axes");
            dims = lead.Concat(size).ToArray();
            // ONNX wants all axes' sizes: the batch and channels keep their own (read from the shape when dynamic).
            sizesInput = c.G.ShapeTensor(lead.Concat(size).ToArray());
        }
        else
        {
            dims = lead.Concat(x.Dims.Skip(2).Select((d, i) => d.IsKnown ? SymInt.Of((long)Math.Floor(d.Value!.Value * scales![i])) : null))
                .ToArray();
            scalesInput = c.E.Constant(new Data.NdArray(TensorElementType.Float32, [spatial + 2],
                new float[] { 1, 1 }.Concat(scales!.Select(v => (float)v)).ToArray())).Name;
        }

        var attrs = new List<global::Onnx.AttributeProto>();
        switch (mode)
        {
            case "nearest":
                attrs.Add(Attr.String("mode", "nearest"));
                attrs.Add(Attr.String("coordinate_transformation_mode", "asymmetric"));
                attrs.Add(Attr.String("nearest_mode", "floor"));
                break;
            case "nearest-exact":
                attrs.Add(Attr.String("mode", "nearest"));
                attrs.Add(Attr.String("coordinate_transformation_mode", "half_pixel"));
                attrs.Add(Attr.String("nearest_mode", "round_prefer_ceil"));
                break;
            default:
                attrs.Add(Attr.String("mode", mode));
                attrs.Add(Attr.String("coordinate_transformation_mode", alignCorners ? "align_corners" : "pytorch_half_pixel"));
                if (mode == "cubic") attrs.Add(Attr.Float("cubic_coeff_a", -0.75));
                break;
        }
        return c.E.Node("Resize", [x.Name, "", scalesInput, sizesInput], x.Type, dims, attrs.ToArray());
    }

    /// <summary>The scale factors: a list (traced .vec overload) or one optional float per axis (scripted overload).</summary>
    private static double[]? Scales(OpCall c, int index, int spatial)
    {
        var first = c.Arg(index, "scale_factors");
        if (first is null) return null;
        if (first is List<object?> or TupleValue)
        {
            var items = Interpreter.Items(first, "read scale_factors of " + c.Op);
            var values = items.Select(v => ScalarMath.ToDouble(v, c.Op + " scale factor")).ToArray();
            return values.Length == 1 ? Enumerable.Repeat(values[0], spatial).ToArray() : values;
        }
        var scales = new double[spatial];
        for (var i = 0; i < spatial; i++)
        {
            var v = c.Arg(index + i, "scales");
            if (v is null) return null;
            scales[i] = ScalarMath.ToDouble(v, c.Op + " scale");
        }
        return scales;
    }
}
