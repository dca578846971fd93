using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using Onnx;

namespace ModelBuild.Passes.Quantization;

public readonly record struct TensorRange(float Min, float Max);

/// <summary>
/// Activation ranges from calibration data. MinMax keeps the observed extremes; Percentile and Entropy take a
/// second run that fills a histogram over the observed range, then clip outliers (99.999th percentile per tail)
/// or pick the clipping threshold with the smallest KL divergence between the float and 128-level distributions.
/// Tensors that are not float are left out of the result.
/// </summary>
public static class Calibrator
{
    private const int Bins = 2048;
    private const double PercentileTail = 1e-5;

    public static Dictionary<string, TensorRange> Collect(
        ModelProto model, IReadOnlyCollection<string> tensors, IReadOnlyList<IReadOnlyDictionary<string, NdArray>> batches,
        CalibrationMethod method, SourceLocation location, CancellationToken cancellation = default)
    {
        var ranges = new Dictionary<string, TensorRange>(StringComparer.Ordinal);
        if (tensors.Count == 0) return ranges;
        using var probe = new TensorProbe(model, tensors, location);
        var wanted = tensors.ToHashSet(StringComparer.Ordinal);
        foreach (var batch in batches)
        {
            cancellation.ThrowIfCancellationRequested();
            foreach (var (name, value) in probe.Run(batch).Concat(batch))
            {
                if (!wanted.Contains(name) || value.Data is not float[] data || data.Length == 0) continue;
                var (min, max) = MinMax(data);
                ranges[name] = ranges.TryGetValue(name, out var r)
                    ? new TensorRange(Math.Min(r.Min, min), Math.Max(r.Max, max))
                    : new TensorRange(min, max);
            }
        }
        if (method == CalibrationMethod.MinMax) return ranges;

        var histograms = ranges.ToDictionary(kv => kv.Key, _ => new long[Bins], StringComparer.Ordinal);
        foreach (var batch in batches)
        {
            cancellation.ThrowIfCancellationRequested();
            foreach (var (name, value) in probe.Run(batch).Concat(batch))
                if (histograms.TryGetValue(name, out var h) && value.Data is float[] data) Fill(h, data, ranges[name]);
        }
        foreach (var (name, h) in histograms)
            ranges[name] = method == CalibrationMethod.Percentile ? Percentile(h, ranges[name]) : Entropy(h, ranges[name]);
        return ranges;
    }

    private static (float, float) MinMax(float[] data)
    {
        var min = float.PositiveInfinity;
        var max = float.NegativeInfinity;
        foreach (var v in data)
        {
            if (!float.IsFinite(v)) continue;
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return float.IsFinite(min) ? (min, max) : (0, 0);
    }

    /// <summary>Histogram over [-a, a], a = max(|min|, |max|): symmetric, so entropy can fold it into |x|.</summary>
    private static void Fill(long[] h, float[] data, TensorRange r)
    {
        var a = Math.Max(Math.Abs(r.Min), Math.Abs(r.Max));
        if (a == 0) { h[Bins / 2] += data.Length; return; }
        var perUnit = Bins / (2.0 * a);
        foreach (var v in data)
        {
            if (!float.IsFinite(v)) continue;
            var bin = (int)((v + a) * perUnit);
            h[Math.Clamp(bin, 0, Bins - 1)]++;
        }
    }

    internal static TensorRange Percentile(long[] h, TensorRange r)
    {
        var a = Math.Max(Math.Abs(r.Min), Math.Abs(r.Max));
        var total = h.Sum();
        if (a == 0 || total == 0) return r;
        var tail = (long)Math.Floor(total * PercentileTail);
        var width = 2.0 * a / Bins;
        int lo = 0, hi = Bins - 1;
        for (long seen = 0; lo < Bins - 1 && seen + h[lo] <= tail; lo++) seen += h[lo];
        for (long seen = 0; hi > 0 && seen + h[hi] <= tail; hi--) seen += h[hi];
        var min = (float)Math.Max(r.Min, -a + lo * width);
        var max = (float)Math.Min(r.Max, -a + (hi + 1) * width);
        return new TensorRange(min, max);
    }

    internal static TensorRange Entropy(long[] h, TensorRange r)
    {
        var a = Math.Max(Math.Abs(r.Min), Math.Abs(r.Max));
        if (a == 0) return r;
        // Fold to |x|: bin i of the half histogram covers [i, i+1)·a/half.
        const int half = Bins / 2;
        var abs = new double[half];
        for (var i = 0; i < half; i++) abs[i] = h[half + i] + h[half - 1 - i];
        // Asymmetric int8 spends all 256 levels on a non-negative tensor (ReLU outputs), 128 per side otherwise.
        var levels = r.Min >= 0 ? 256 : 128;
        var bestKl = double.PositiveInfinity;
        var bestI = half;
        for (var i = levels; i <= half; i++)
        {
            var p = new double[i];
            Array.Copy(abs, p, i);
            for (var j = i; j < half; j++) p[i - 1] += abs[j];
            var q = new double[i];
            var per = (double)i / levels;
            for (var l = 0; l < levels; l++)
            {
                var start = (int)Math.Floor(l * per);
                var end = l == levels - 1 ? i : (int)Math.Floor((l + 1) * per);
                double sum = 0; var nonZero = 0;
                for (var j = start; j < end; j++) { sum += abs[j]; if (abs[j] > 0) nonZero++; }
                if (nonZero == 0) continue;
                for (var j = start; j < end; j++) if (abs[j] > 0) q[j] = sum / nonZero;
            }
            var kl = Kl(p, q);
            if (kl < bestKl) { bestKl = kl; bestI = i; }
        }
        var threshold = (float)((bestI + 0.5) * a / half);
        return new TensorRange(Math.Max(r.Min, -threshold), Math.Min(r.Max, threshold));
    }

    private static double Kl(double[] p, double[] q)
    {
        double ps = p.Sum(), qs = q.Sum();
        if (ps == 0 || qs == 0) return double.PositiveInfinity;
        double kl = 0;
        for (var i = 0; i < p.Length; i++)
        {
            if (p[i] == 0) continue;
            var pi = p[i] / ps;
            var qi = q[i] / qs;
            kl += qi == 0 ? pi * Math.Log(pi / 1e-12) : pi * Math.Log(pi / qi);
        }
        return kl;
    }
}
