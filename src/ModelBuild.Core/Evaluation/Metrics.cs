using ModelBuild.Data;
using ModelBuild.Onnx;

namespace ModelBuild.Evaluation;

/// <summary>Accuracy and difference metrics over <see cref="NdArray"/>s. All accumulate in double.</summary>
public static class Metrics
{
    public static double Top1Accuracy(NdArray scores, NdArray labels) => TopKAccuracy(scores, labels, 1);

    /// <summary>
    /// Fraction of rows whose label is among the <paramref name="k"/> highest scores of <paramref name="scores"/>
    /// ([N, C] logits or probabilities; <paramref name="labels"/> [N] integer class indices).
    /// Ties are ranked by class index, lowest first (like a stable sort), so a tie never inflates accuracy;
    /// a NaN score for the label counts as a miss.
    /// </summary>
    public static double TopKAccuracy(NdArray scores, NdArray labels, int k)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        if (scores.Shape.Length != 2)
            throw new ArgumentException($"Scores must be [N, C], got {scores}.", nameof(scores));
        if (labels.Shape.Length != 1 || labels.ElementType is not (TensorElementType.Int64 or TensorElementType.Int32
            or TensorElementType.UInt8 or TensorElementType.Int8))
            throw new ArgumentException($"Labels must be 1-D integers, got {labels}.", nameof(labels));
        var (n, c) = (scores.Shape[0], scores.Shape[1]);
        if (labels.Shape[0] != n)
            throw new ArgumentException($"{labels.Shape[0]} labels for {n} rows of scores.", nameof(labels));
        if (n == 0)
            throw new ArgumentException("No rows to score.", nameof(scores));

        var s = scores.ToDoubles();
        var l = labels.ToDoubles();
        long hits = 0;
        for (long row = 0; row < n; row++)
        {
            var label = (long)l[row];
            if (label < 0 || label >= c)
                throw new ArgumentException($"Label {label} at row {row} is outside [0, {c}).", nameof(labels));
            var offset = row * c;
            var target = s[offset + label];
            if (double.IsNaN(target)) continue;
            long ahead = 0;
            for (long j = 0; j < c && ahead < k; j++)
            {
                var v = s[offset + j];
                if (v > target || (v == target && j < label)) ahead++;
            }
            if (ahead < k) hits++;
        }
        return (double)hits / n;
    }

    /// <summary>Mean of |a - b| over all elements (0 for empty arrays). NaN anywhere gives NaN.</summary>
    public static double MeanAbsoluteError(NdArray a, NdArray b)
    {
        var (x, y) = Pair(a, b);
        if (x.Length == 0) return 0;
        double sum = 0;
        for (var i = 0; i < x.Length; i++) sum += Math.Abs(x[i] - y[i]);
        return sum / x.Length;
    }

    /// <summary>Largest |a - b| (0 for empty arrays). NaN anywhere gives NaN, so a threshold check fails.</summary>
    public static double MaxAbsDifference(NdArray a, NdArray b)
    {
        var (x, y) = Pair(a, b);
        double max = 0;
        for (var i = 0; i < x.Length; i++) max = Math.Max(max, Math.Abs(x[i] - y[i]));
        return max;
    }

    /// <summary>
    /// Cosine similarity of the flattened arrays. Two all-zero arrays are identical, so 1;
    /// one zero and one non-zero has no direction to compare, so 0.
    /// </summary>
    public static double CosineSimilarity(NdArray a, NdArray b)
    {
        var (x, y) = Pair(a, b);
        double dot = 0, xx = 0, yy = 0;
        for (var i = 0; i < x.Length; i++)
        {
            dot += x[i] * y[i];
            xx += x[i] * x[i];
            yy += y[i] * y[i];
        }
        if (xx == 0 && yy == 0) return 1;
        if (xx == 0 || yy == 0) return 0;
        // sqrt(xx * yy) is exact when xx == yy, so identical arrays give exactly 1; split only if the product over/underflows.
        var product = xx * yy;
        var norm = double.IsFinite(product) && product > 0 ? Math.Sqrt(product) : Math.Sqrt(xx) * Math.Sqrt(yy);
        // Rounding can push the ratio a hair past ±1.
        return Math.Clamp(dot / norm, -1, 1);
    }

    internal static (double[] X, double[] Y) Pair(NdArray a, NdArray b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.Shape.AsSpan().SequenceEqual(b.Shape))
            throw new ArgumentException($"Cannot compare arrays of different shapes: {a} and {b}.");
        return (a.ToDoubles(), b.ToDoubles());
    }
}
