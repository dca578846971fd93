using System.Reflection;
using ModelBuild.TorchScript.Conversion;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelBuild.Torch;

/// <summary>
/// Lowers one TorchSharp module to ONNX through the converter's own op lowerings: Sequential chains, the standard
/// layers read from their types and parameters, and <see cref="IOnnxExportable"/> modules. Anything else has a C#
/// forward we cannot see, and is refused naming its type.
/// </summary>
internal static class ModuleExporter
{
    public static IReadOnlyList<TensorValue> Export(OnnxExportContext ctx, nn.Module module, IReadOnlyList<TensorValue> inputs)
    {
        if (module is IOnnxExportable custom)
        {
            var outputs = custom.Export(ctx, inputs);
            if (outputs.Count == 0) throw new ConversionError($"{module.GetType().FullName}.Export returned no outputs");
            return outputs;
        }
        if (module is Sequential sequential)
        {
            var x = Single(module, inputs);
            foreach (var (_, child) in sequential.named_children()) x = ctx.Call(child, x);
            return [x];
        }
        if (module is RNN) throw Refuse(module, "plain RNN layers are not supported; use LSTM or GRU");
        if (module is LSTM or GRU) return Recurrent(ctx, module, Single(module, inputs));
        return [Layer(ctx, module, Single(module, inputs))];
    }

    private static TensorValue Layer(OnnxExportContext ctx, nn.Module module, TensorValue x)
    {
        switch (module)
        {
            case Linear l:
                return ctx.Op("linear", x, l.weight, l.bias);
            case Convolution c:
                if (c.padding_mode != PaddingModes.Zeros) throw Refuse(module, $"padding_mode {c.padding_mode} (only zeros)");
                object padding = c.padding_type switch
                {
                    Padding.Same => "same",
                    Padding.Valid => "valid",
                    _ => c.padding!,
                };
                return ctx.Op("_convolution", x, c.weight, c.bias, c.stride, padding, c.dilation, c.transposed, c.output_padding, c.groups);
            case BatchNorm bn:
                // In eval mode BatchNorm normalizes with its running statistics; without them it would use the batch's.
                if (!bn.track_running_stats || bn.running_mean is null || bn.running_var is null)
                    throw Refuse(module, "BatchNorm without running statistics (track_running_stats: false) normalizes with batch statistics");
                return ctx.Op("batch_norm", x, bn.weight, bn.bias, bn.running_mean, bn.running_var, false, bn.momentum ?? 0.1, bn.eps, false);
            case LayerNorm ln:
                return ctx.Op("layer_norm", x, ln.normalized_shape, ln.weight, ln.bias, ln.eps);
            case ReLU: return ctx.Op("relu", x);
            case ReLU6: return ctx.Op("relu6", x);
            case GELU g: return ctx.Op("gelu", x, g.approximate.ToString());
            case SiLU: return ctx.Op("silu", x);
            case Sigmoid: return ctx.Op("sigmoid", x);
            case Tanh: return ctx.Op("tanh", x);
            case Hardswish: return ctx.Op("hardswish", x);
            case LeakyReLU lr: return ctx.Op("leaky_relu", x, lr.negative_slope);
            case Softmax s: return ctx.Op("softmax", x, s.dim);
            case LogSoftmax s: return ctx.Op("log_softmax", x, s.dim);
            case MaxPool2d p: return ctx.Op("max_pool2d", x, p.kernel_size, p.stride ?? p.kernel_size, p.padding ?? [0, 0],
                p.dilation ?? [1, 1], p.ceil_mode);
            case AvgPool2d p:
                if (p.divisor_override is not null) throw Refuse(module, "divisor_override");
                return ctx.Op("avg_pool2d", x, p.kernel_size, p.stride ?? p.kernel_size, p.padding ?? [0, 0], p.ceil_mode, p.count_include_pad);
            case AdaptiveAvgPool2d p: return ctx.Op("adaptive_avg_pool2d", x, p.output_size);
            case Flatten f: return ctx.Op("flatten", x, f.start_dim, f.end_dim);
            case Embedding e: return ctx.Op("embedding", e.weight, x);
            // Eval mode: dropout of every kind is the identity.
            case Dropout or Dropout1d or Dropout2d or Dropout3d or AlphaDropout or Identity: return x;
            case var _ when module.GetType().IsGenericType && module.GetType().GetGenericTypeDefinition() is var g
                                 && (g == typeof(ModuleList<>) || g == typeof(ModuleDict<>)):
                throw Refuse(module, "a ModuleList/ModuleDict has no forward of its own; implement " +
                    "ModelBuild.Torch.IOnnxExportable on the module that uses it");
            default:
                throw Refuse(module, "its forward is C# code ModelBuild cannot read; implement ModelBuild.Torch.IOnnxExportable on it (see " +
                    "docs/torchscript.md), or build it from Sequential and standard layers");
        }
    }

    /// <summary>LSTM/GRU with zero initial state: output, then h_n (and c_n), as TorchSharp's forward returns them.</summary>
    private static IReadOnlyList<TensorValue> Recurrent(OnnxExportContext ctx, nn.Module module, TensorValue x)
    {
        // TorchSharp 0.107 keeps the layout in private fields.
        var layers = Field<long>(module, "_num_layers");
        var bidirectional = Field<bool>(module, "_bidirectional");
        var batchFirst = Field<bool>(module, "_batch_first");
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var hasBiases = parameters.ContainsKey("bias_ih_l0");
        var flat = new List<object?>();
        for (var layer = 0; layer < layers; layer++)
            foreach (var suffix in bidirectional ? new[] { "", "_reverse" } : [""])
                foreach (var kind in hasBiases ? new[] { "weight_ih", "weight_hh", "bias_ih", "bias_hh" } : ["weight_ih", "weight_hh"])
                {
                    var name = $"{kind}_l{layer}{suffix}";
                    flat.Add(ctx.Weight(parameters.GetValueOrDefault(name) ?? throw Refuse(module, $"missing parameter {name}")));
                }
        var zeros = new TensorValue("", x.Type, []) { IsZeros = true };
        var lstm = module is LSTM;
        object hx = lstm ? new List<object?> { zeros, zeros } : zeros;
        return ctx.OpAll(lstm ? "lstm" : "gru", x, hx, flat, hasBiases, layers, 0.0, false, bidirectional, batchFirst);
    }

    private static T Field<T>(object module, string name)
    {
        var field = module.GetType().GetField(name, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
            ?? throw Refuse((nn.Module)module, $"this TorchSharp version has no field {name} (ModelBuild reads LSTM/GRU " +
                $"layouts from TorchSharp 0.107)");
        return (T)field.GetValue(module)!;
    }

    private static TensorValue Single(nn.Module module, IReadOnlyList<TensorValue> inputs) =>
        inputs.Count == 1 ? inputs[0] : throw Refuse(module, $"it takes one tensor but is given {inputs.Count}");

    private static ConversionError Refuse(nn.Module module, string why) =>
        new($"cannot export {module.GetType().FullName}: {why}");
}
