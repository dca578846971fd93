using ModelBuild.Data;

namespace ModelBuild.Evaluation;

/// <summary>How far one output is from a reference output of the same shape.</summary>
/// <param name="MaxAbs">Largest |actual - expected|.</param>
/// <param name="MeanAbs">Mean |actual - expected|.</param>
/// <param name="MaxRel">Largest |actual - expected| / max(|expected|, <see cref="RelativeFloor"/>).</param>
/// <param name="Cosine">Cosine similarity of the flattened outputs (see <see cref="Metrics.CosineSimilarity"/>).</param>
public sealed record ParityResult(double MaxAbs, double MeanAbs, double MaxRel, double Cosine)
{
    /// <summary>Largest |expected|: what a difference is measured against.</summary>
    public double Magnitude { get; init; }

    /// <summary>Denominator floor for relative error, so expected values near zero do not turn noise into huge ratios.</summary>
    public const double RelativeFloor = 1e-6;

    /// <summary>Compares in one pass; any NaN difference makes MaxAbs, MeanAbs and MaxRel NaN. Shapes must match.</summary>
    public static ParityResult Compare(NdArray expected, NdArray actual)
    {
        var (e, a) = Metrics.Pair(expected, actual);
        double maxAbs = 0, sumAbs = 0, maxRel = 0, magnitude = 0;
        for (var i = 0; i < e.Length; i++)
        {
            magnitude = Math.Max(magnitude, Math.Abs(e[i]));
            var diff = Math.Abs(a[i] - e[i]);
            maxAbs = Math.Max(maxAbs, diff);
            sumAbs += diff;
            maxRel = Math.Max(maxRel, diff / Math.Max(Math.Abs(e[i]), RelativeFloor));
        }
        return new ParityResult(maxAbs, e.Length == 0 ? 0 : sumAbs / e.Length, maxRel,
            Metrics.CosineSimilarity(expected, actual)) { Magnitude = magnitude };
    }
}
