using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Execution;

namespace ModelBuild.Evaluation;

/// <summary>
/// Variants' p50 latency relative to the artifact they are compared with, measured in alternating short blocks
/// (base, variant, base, variant, …) so that load on a shared machine hits both alike: each artifact's own latency in
/// the report is measured at a different moment, and a ratio of those two numbers swings with whatever else the
/// machine was doing in between. Blocks, not single runs in turn: a deployed model runs again and again with its
/// weights in cache, and alternating every run would make both models refetch theirs each time (measured on the
/// held-out CNN: 0.41× run by run against 0.34–0.36× in blocks and standalone).
/// </summary>
/// <param name="secondsPerVariant">Time budget for one variant's comparison: slow models get fewer rounds (at least one).</param>
public sealed class PairedLatency(int intraOpThreads, int rounds = 5, double secondsPerVariant = double.PositiveInfinity)
{
    /// <summary>One block: a few untimed runs (the other model just had the cache), then timed runs until both minimums are met.</summary>
    private LatencyBenchmark Block(int blocks) =>
        new(warmupRuns: 2, minRuns: 5, maxRuns: 200, minSeconds: 0.1, maxSeconds: secondsPerVariant / blocks);

    /// <returns>
    /// For each variant, the median over rounds of (variant block p50 / base block p50), and every timed run of the
    /// variant's blocks (its latency distribution, measured beside base).
    /// </returns>
    public IReadOnlyList<PairedLatencyResult> Compare(string basePath, IReadOnlyList<string> variantPaths,
        IReadOnlyDictionary<string, NdArray> inputs, int batch,
        SourceLocation location, CancellationToken cancellation = default)
    {
        using var baseRunner = new ModelRunner(basePath, location, intraOpThreads);
        // One timed base run sizes the rounds: a block costs about (warm-up + floor runs) of them, two blocks a round.
        var probe = new LatencyBenchmark(warmupRuns: 1, minRuns: 1, maxRuns: 1, minSeconds: 0)
            .Measure(baseRunner, inputs, batch, cancellation).P50Ms / 1000;
        var affordable = (int)Math.Floor(secondsPerVariant / Math.Max(1e-9, 2 * (1 + LatencyBenchmark.FloorRuns) * probe));
        var roundCount = Math.Clamp(affordable, 1, rounds);
        var block = Block(2 * roundCount);
        return variantPaths.Select(variantPath =>
        {
            using var variantRunner = new ModelRunner(variantPath, location, intraOpThreads);
            var ratios = new List<double>(roundCount);
            var variantRuns = new List<double>();
            for (var r = 0; r < roundCount; r++)
            {
                var baseP50 = block.Measure(baseRunner, inputs, batch, cancellation).P50Ms;
                var variant = block.Measure(variantRunner, inputs, batch, cancellation);
                ratios.Add(variant.P50Ms / Math.Max(baseP50, 1e-9));
                variantRuns.AddRange(variant.SortedSamples);
            }
            ratios.Sort();
            return new PairedLatencyResult(ratios[ratios.Count / 2], LatencyStats.From(batch, variantRuns));
        }).ToList();
    }
}

/// <param name="P50Ratio">The variant's p50 over base's, the median over rounds.</param>
/// <param name="Variant">The variant's timed runs from all its blocks.</param>
public sealed record PairedLatencyResult(double P50Ratio, LatencyStats Variant)
{
    /// <summary>
    /// The variant's distribution expressed on the scale of base's own measurement: every run scaled so that its p50
    /// is <paramref name="baseP50Ms"/> × <see cref="P50Ratio"/>. The report then shows one p50 per artifact whose
    /// quotient is the ratio it prints, however loaded the machine was when base was measured alone.
    /// </summary>
    public LatencyStats OnBaseScale(double baseP50Ms)
    {
        var factor = baseP50Ms * P50Ratio / Math.Max(Variant.P50Ms, 1e-9);
        return LatencyStats.From(Variant.Batch, Variant.SortedSamples.Select(ms => ms * factor));
    }
}
