using ModelBuild.Manifest;
using ModelBuild.Passes.Quantization;

namespace ModelBuild.Passes;

/// <summary>
/// The op types each quantization mode can quantize, and the ones it does unless <c>quantize.ops</c> says otherwise.
/// Dynamic leaves Conv out by default: ONNX Runtime's CPU ConvInteger has no fused kernel (integer conv, then Cast,
/// Mul and Add as separate ops) and measured 7–8× slower than the float Conv on the sample CNN; listing Conv in
/// <c>quantize.ops</c> turns it on where the size matters more.
/// </summary>
public static class QuantizableOps
{
    private static readonly string[] DynamicDefault = ["MatMul", "Gemm", "Gather", "LSTM"];

    public static IReadOnlySet<string> For(QuantizeMode mode) => mode == QuantizeMode.Dynamic
        ? DynamicOpQuantizerRegistry.OpTypes.Append("Gather").ToHashSet(StringComparer.Ordinal)
        : OpQuantizerRegistry.OpTypes.ToHashSet(StringComparer.Ordinal);

    /// <summary>The op types kept in float because <c>quantize.ops</c> (or the mode's default) leaves them out.</summary>
    public static IEnumerable<string> LeftOut(QuantizeMode mode, IReadOnlyList<string>? ops)
    {
        var chosen = ops ?? (mode == QuantizeMode.Dynamic ? DynamicDefault : For(mode).ToArray());
        return For(mode).Except(chosen, StringComparer.Ordinal);
    }
}
