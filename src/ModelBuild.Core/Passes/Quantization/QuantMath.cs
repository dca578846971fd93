namespace ModelBuild.Passes.Quantization;

/// <summary>Scale and zero point of one tensor (or one channel): real = (q − zeroPoint)·scale.</summary>
public readonly record struct QuantParams(float Scale, int ZeroPoint);

/// <summary>The int8 formulas, in one place so tests can check them exactly.</summary>
public static class QuantMath
{
    /// <summary>
    /// Activation params, uint8. The range always includes 0 so that zero padding is exact. Symmetric: zero point 128
    /// (the int8 zero-point-0 grid shifted by 128). Asymmetric: zero point in [0, 255]. uint8 is — the U8S8 form x86 int8
    /// kernels (VNNI vpdpbusd) take natively, so ONNX Runtime fuses every DQ→op→Q group without first rewriting int8 Q/DQ
    /// pairs to uint8, a rewrite it only applies to a Q with a single DequantizeLinear reader.
    /// </summary>
    public static QuantParams Activation(TensorRange range, bool symmetric)
    {
        var min = Math.Min(range.Min, 0f);
        var max = Math.Max(range.Max, 0f);
        if (symmetric)
        {
            var a = Math.Max(-min, max);
            return new QuantParams(a > 0 ? a / 127f : 1f, 128);
        }
        if (max - min <= 0) return new QuantParams(1f, 0);
        var scale = (max - min) / 255f;
        var zp = (int)Math.Round(-min / scale, MidpointRounding.ToEven);
        return new QuantParams(scale, Math.Clamp(zp, 0, 255));
    }

    /// <summary>Symmetric int8 weight scale for values with largest magnitude <paramref name="absMax"/>; 7 bits with reduce_range.</summary>
    public static float WeightScale(float absMax, bool reduceRange)
    {
        var q = reduceRange ? 63f : 127f;
        return absMax > 0 ? absMax / q : 1f;
    }

    public static sbyte QuantizeInt8(float value, float scale, int zeroPoint, int qmin = -128, int qmax = 127) =>
        (sbyte)Math.Clamp((int)Math.Round(value / scale, MidpointRounding.ToEven) + zeroPoint, qmin, qmax);

    /// <summary>
    /// Symmetric int8 weights, per tensor (axis &lt; 0) or per slice along <paramref name="axis"/>.
    /// Returns the quantized values and one scale per slice.
    /// </summary>
    public static (sbyte[] Values, float[] Scales) QuantizeWeights(float[] w, long[] dims, int axis, bool reduceRange)
    {
        var limit = reduceRange ? 63 : 127;
        if (axis < 0)
        {
            var s = WeightScale(w.Length == 0 ? 0 : w.Max(MathF.Abs), reduceRange);
            return (w.Select(v => QuantizeInt8(v, s, 0, -limit, limit)).ToArray(), [s]);
        }
        var channels = (int)dims[axis];
        long inner = 1;
        for (var d = axis + 1; d < dims.Length; d++) inner *= dims[d];
        var absMax = new float[channels];
        for (long i = 0; i < w.Length; i++)
        {
            var c = (int)(i / inner % channels);
            absMax[c] = Math.Max(absMax[c], MathF.Abs(w[i]));
        }
        var scales = absMax.Select(a => WeightScale(a, reduceRange)).ToArray();
        var q = new sbyte[w.Length];
        for (long i = 0; i < w.Length; i++)
            q[i] = QuantizeInt8(w[i], scales[(int)(i / inner % channels)], 0, -limit, limit);
        return (q, scales);
    }
}
