using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Runtime;

namespace ModelBuild.Evaluation;

/// <summary>
/// A variant's p50 latency relative to the artifact it is compared with, measured in alternating short rounds
/// (base, variant, base, variant, …) so that load on a shared machine hits both alike. Each artifact's own
/// latency in the report is measured at a different moment; a ratio of those two numbers swings with whatever
/// else the machine was doing in between.
/// </summary>
public sealed class PairedLatency(int intraOpThreads, int rounds = 3)
{
    private readonly LatencyBenchmark _round = new(warmupRuns: 3, minRuns: 5, maxRuns: 200, minSeconds: 0.1);

    /// <returns>The median over rounds of (variant p50 / base p50).</returns>
    public double Ratio(string basePath, string variantPath, IReadOnlyDictionary<string, NdArray> inputs, int batch, SourceLocation location,
        CancellationToken cancellation = default)
    {
        using var baseRunner = new ModelRunner(basePath, location, intraOpThreads);
        using var variantRunner = new ModelRunner(variantPath, location, intraOpThreads);
        var ratios = new List<double>(rounds);
        for (var r = 0; r < rounds; r++)
        {
            var baseP50 = _round.Measure(baseRunner, inputs, batch, cancellation).P50Ms;
            var variantP50 = _round.Measure(variantRunner, inputs, batch, cancellation).P50Ms;
            ratios.Add(variantP50 / Math.Max(baseP50, 1e-6));
        }
        ratios.Sort();
        return ratios[ratios.Count / 2];
    }
}
