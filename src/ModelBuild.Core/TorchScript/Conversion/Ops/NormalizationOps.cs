using ModelBuild.Data;
using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>batch_norm (inference: running statistics), layer_norm (LayerNormalization from opset 17, spelled out
/// below), group_norm, instance_norm.</summary>
public static class NormalizationOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(BatchNorm, "batch_norm", "_native_batch_norm_legit_no_training");
        r.Add(c => LayerNorm(c, c.Tensor(0, "input"), c.Ints(1, "normalized_shape").Length, c.OptionalTensor(2, "weight"),
            c.OptionalTensor(3, "bias"), c.Double(4, "eps", 1e-5)), "layer_norm");
        r.Add(GroupNorm, "group_norm");
        r.Add(InstanceNorm, "instance_norm");
    }

    private static object BatchNorm(OpCall c)
    {
        var x = c.Tensor(0, "input");
        var training = c.Op == "torch.batch_norm" && c.Bool(5, "training");
        if (training) throw c.Unsupported("batch_norm in training mode (call model.eval() before saving)");
        var eps = c.Op == "torch.batch_norm" ? c.Double(7, "eps", 1e-5) : c.Double(6, "eps", 1e-5);
        var mean = c.OptionalTensor(3, "running_mean") ?? throw c.Unsupported("batch_norm without running statistics");
        var variance = c.OptionalTensor(4, "running_var") ?? throw c.Unsupported("batch_norm without running statistics");
        var channels = mean.Dims[0].Value ?? throw c.Unsupported("batch_norm with dynamic channel count");
        var weight = c.OptionalTensor(1, "weight") ?? c.E.Constant(Filled(channels, 1f));
        var bias = c.OptionalTensor(2, "bias") ?? c.E.Constant(Filled(channels, 0f));
        var y = c.E.Like("BatchNormalization", x, [x.Name, weight.Name, bias.Name, mean.Name, variance.Name], Attr.Float("epsilon", eps));
        return c.Op == "torch.batch_norm" ? y : new TupleValue([y, null, null]);
    }

    private static NdArray Filled(long n, float v) => new(TensorElementType.Float32, [n], Enumerable.Repeat(v, (int)n).ToArray());

    public static TensorValue LayerNorm(OpCall c, TensorValue x, int normalizedRank, TensorValue? weight, TensorValue? bias, double eps)
    {
        var axis = x.Rank - normalizedRank;
        var e = c.E;
        if (e.Opset >= 17)
        {
            var shape = x.Dims.Skip(axis).Select(d => d.Value ?? throw c.Unsupported("layer_norm over a dynamic axis")).ToArray();
            var count = (int)NdArray.ElementCount(shape);
            weight ??= e.Constant(new NdArray(x.Type, shape, Enumerable.Repeat(1f, count).ToArray()));
            var inputs = new List<string> { x.Name, weight.Name };
            if (bias is not null) inputs.Add(bias.Name);
            return e.Like("LayerNormalization", x, inputs, Attr.Int("axis", axis), Attr.Float("epsilon", eps));
        }
        // (x − mean) / √(var + eps) · weight + bias, with the biased variance, as PyTorch computes it.
        var axes = Enumerable.Range(axis, normalizedRank).Select(i => (long)i).ToArray();
        var centered = e.Binary("Sub", x, e.Reduce("ReduceMean", x, axes, true));
        var variance = e.Reduce("ReduceMean", e.Binary("Mul", centered, centered), axes, true);
        var y = e.Binary("Div", centered, e.Unary("Sqrt", e.Binary("Add", variance, eps)));
        if (weight is not null) y = e.Binary("Mul", y, weight);
        if (bias is not null) y = e.Binary("Add", y, bias);
        return y;
    }

    private static object GroupNorm(OpCall c)
    {
        var x = c.Tensor(0, "input");
        var groups = c.Int(1, "num_groups");
        var weight = c.OptionalTensor(2, "weight");
        var bias = c.OptionalTensor(3, "bias");
        var eps = c.Double(4, "eps", 1e-5);
        var e = c.E;
        // Normalize over [C/G, spatial] per group: reshape to [N, G, -1], normalize the last axis, reshape back.
        var grouped = e.Reshape(x, [x.Dims[0], SymInt.Of(groups), SymInt.Of(-1)]);
        var normalized = LayerNorm(c, grouped, 1, null, null, eps);
        var y = e.Node("Reshape", [normalized.Name, c.G.ShapeOf(x.Name)], x.Type, x.Dims);
        var trailing = Enumerable.Range(1, x.Rank - 2).Select(i => (long)i).ToArray();
        if (weight is not null) y = e.Binary("Mul", y, trailing.Length > 0 ? e.Unsqueeze(weight, trailing) : weight);
        if (bias is not null) y = e.Binary("Add", y, trailing.Length > 0 ? e.Unsqueeze(bias, trailing) : bias);
        return y;
    }

    /// <summary>instance_norm: per-sample statistics (InstanceNormalization), or the running ones when the module
    /// tracks them (use_input_stats false in eval), which is a batch norm.</summary>
    private static object InstanceNorm(OpCall c)
    {
        var x = c.Tensor(0, "input");
        var weight = c.OptionalTensor(1, "weight");
        var bias = c.OptionalTensor(2, "bias");
        var useInputStats = c.Bool(5, "use_input_stats", true);
        var eps = c.Double(7, "eps", 1e-5);
        var channels = x.Dims[1].Value ?? throw c.Unsupported("instance_norm with a dynamic channel count");
        weight ??= c.E.Constant(Filled(channels, 1f));
        bias ??= c.E.Constant(Filled(channels, 0f));
        if (!useInputStats)
        {
            var mean = c.OptionalTensor(3, "running_mean") ?? throw c.Unsupported("instance_norm without input or running statistics");
            var variance = c.OptionalTensor(4, "running_var") ?? throw c.Unsupported("instance_norm without input or running statistics");
            return c.E.Like("BatchNormalization", x, [x.Name, weight.Name, bias.Name, mean.Name, variance.Name], Attr.Float("epsilon", eps));
        }
        return c.E.Like("InstanceNormalization", x, [x.Name, weight.Name, bias.Name], Attr.Float("epsilon", eps));
    }
}
