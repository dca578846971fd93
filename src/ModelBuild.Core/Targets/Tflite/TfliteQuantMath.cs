namespace ModelBuild.Targets.Tflite;

/// <summary>TFLite's int8 conventions: weights symmetric per channel in [−127, 127] with zero point 0.</summary>
internal static class TfliteQuantMath
{
    public static (sbyte[] Values, float[] Scales) SymmetricPerChannel(float[] weights, long[] shape, int channelAxis)
    {
        var channels = (int)shape[channelAxis];
        long inner = 1;
        for (var d = channelAxis + 1; d < shape.Length; d++) inner *= shape[d];
        var maxAbs = new float[channels];
        for (long i = 0; i < weights.LongLength; i++)
        {
            var c = (int)(i / inner % channels);
            maxAbs[c] = Math.Max(maxAbs[c], Math.Abs(weights[i]));
        }
        // An all-zero channel still needs a positive scale.
        var scales = maxAbs.Select(m => m > 0 ? m / 127f : 1f).ToArray();
        var values = new sbyte[weights.Length];
        for (long i = 0; i < weights.LongLength; i++)
        {
            var c = (int)(i / inner % channels);
            values[i] = (sbyte)Math.Clamp(Math.Round(weights[i] / scales[c]), -127, 127);
        }
        return (values, scales);
    }
}
