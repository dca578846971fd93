namespace ModelBuild.Passes.Quantization;

/// <summary>
/// A node a quantizer could have quantized but left in float, and why: <see cref="Speed"/> (latency-aware: it ran
/// slower quantized on the building machine, times measured by ONNX Runtime's profiler) or <see cref="Accuracy"/>
/// (accuracy-aware: it added the most error).
/// </summary>
/// <param name="FloatMicroseconds">Speed: the node's kernel time in the float model (with the activation fused into it).</param>
/// <param name="Int8Microseconds">Speed: its time quantized, with the QuantizeLinear/DequantizeLinear nodes charged to it.</param>
/// <param name="Detail">What decided it, in words (the error it added; or that the whole model was still slower).</param>
public sealed record KeptFloatNode(string Node, string OpType, string Reason, double? FloatMicroseconds, double? Int8Microseconds, string Detail)
{
    public const string Speed = "speed";
    public const string Accuracy = "accuracy";
}
