namespace ModelBuild.Data;

/// <summary>
/// Percentiles by linear interpolation between closest ranks: for sorted values v[0..n-1] the p-th percentile
/// sits at rank h = (n - 1) * p / 100 and is v[floor h] + (h - floor h) * (v[floor h + 1] - v[floor h]).
/// This is Hyndman and Fan's type 7, the default of NumPy's <c>percentile</c> and Excel's PERCENTILE.INC.
/// </summary>
public static class Percentiles
{
    /// <param name="percentile">In [0, 100].</param>
    public static double Of(IReadOnlyList<double> values, double percentile) =>
        Interpolate(Sorted(values), percentile);

    /// <summary>p50, p95 and p99 from one sort.</summary>
    public static PercentileSummary Summarize(IReadOnlyList<double> values)
    {
        var sorted = Sorted(values);
        return new PercentileSummary(Interpolate(sorted, 50), Interpolate(sorted, 95), Interpolate(sorted, 99));
    }

    private static double[] Sorted(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0) throw new ArgumentException("No values to take percentiles of.", nameof(values));
        var sorted = values.ToArray();
        if (sorted.Any(double.IsNaN)) throw new ArgumentException("Values contain NaN.", nameof(values));
        Array.Sort(sorted);
        return sorted;
    }

    private static double Interpolate(double[] sorted, double percentile)
    {
        if (!(percentile is >= 0 and <= 100))
            throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "Percentile must be in [0, 100].");
        var h = (sorted.Length - 1) * percentile / 100;
        var lo = (int)Math.Floor(h);
        if (lo >= sorted.Length - 1) return sorted[^1];
        return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
    }
}
