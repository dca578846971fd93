namespace ModelBuild.Manifest;

/// <summary>
/// The op types each quantization mode can quantize, and the ones it does unless <c>quantize.ops</c> says otherwise.
/// Dynamic leaves Conv out by default: ONNX Runtime's CPU ConvInteger has no fused kernel (integer conv, then Cast,
/// Mul and Add as separate ops) and measured 7–8× slower than the float Conv on the sample CNN; listing Conv in
/// <c>quantize.ops</c> turns it on where the size matters more. These lists are the vocabulary of <c>quantize.ops</c>;
/// the quantizer registries in Passes implement exactly them (QuantizableOpsTests keeps the two equal).
/// </summary>
public static class QuantizableOps
{
    private static readonly string[] DynamicDefault = ["MatMul", "Gemm", "Gather", "LSTM", "Attention"];

    private static readonly IReadOnlySet<string> Static = new HashSet<string>(StringComparer.Ordinal)
    {
        "Conv", "Gemm", "MatMul", "Add", "Mul", "AveragePool", "GlobalAveragePool", "Relu", "Clip", "LeakyRelu", "Sigmoid",
        "MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
    };

    // Gather: embedding tables, quantized row by row outside the op registry.
    private static readonly IReadOnlySet<string> Dynamic = new HashSet<string>(StringComparer.Ordinal) { "MatMul", "Gemm", "Conv", "LSTM", "Gather", "Attention" };

    /// <summary>Qat quantizes what static does: it starts from the static QDQ model.</summary>
    public static IReadOnlySet<string> For(QuantizeMode mode) => mode == QuantizeMode.Dynamic ? Dynamic : Static;

    /// <summary>The op types kept in float because <c>quantize.ops</c> (or the mode's default) leaves them out.</summary>
    public static IEnumerable<string> LeftOut(QuantizeMode mode, IReadOnlyList<string>? ops)
    {
        var chosen = ops ?? (mode == QuantizeMode.Dynamic ? DynamicDefault : For(mode).ToArray());
        return For(mode).Except(chosen, StringComparer.Ordinal);
    }
}
