using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Runtime;

namespace ModelBuild.Evaluation;

/// <summary>
/// A variant's p50 latency relative to the artifact it is compared with, measured in alternating short blocks
/// (base, variant, base, variant, …) so that load on a shared machine hits both alike: each artifact's own latency in
/// the report is measured at a different moment, and a ratio of those two numbers swings with whatever else the
/// machine was doing in between. Blocks, not single runs in turn: a deployed model runs again and again with its
/// weights in cache, and alternating every run would make both models refetch theirs each time (measured on the
/// held-out CNN: 0.41× run by run against 0.34–0.36× in blocks and standalone).
/// </summary>
public sealed class PairedLatency(int intraOpThreads, int rounds = 5, int warmupRuns = 2, int minRuns = 5, double minSeconds = 0.1, int maxRuns = 200)
{
    /// <returns>The median over rounds of (variant block p50 / base block p50).</returns>
    public double Ratio(string basePath, string variantPath, IReadOnlyDictionary<string, NdArray> inputs, SourceLocation location,
        CancellationToken cancellation = default)
    {
        using var baseRunner = new ModelRunner(basePath, location, intraOpThreads);
        using var variantRunner = new ModelRunner(variantPath, location, intraOpThreads);
        var names = inputs.Keys.ToArray();
        var values = names.Select(n => ModelRunner.ToOrtValue(inputs[n])).ToArray();
        try
        {
            var ratios = new List<double>(rounds);
            for (var r = 0; r < rounds; r++)
            {
                var baseP50 = BlockP50(baseRunner, names, values, cancellation);
                var variantP50 = BlockP50(variantRunner, names, values, cancellation);
                ratios.Add(variantP50 / Math.Max(baseP50, 1e-9));
            }
            return Median(ratios);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>A few untimed runs (the other model just had the cache), then timed runs until both minimums are met.</summary>
    private double BlockP50(ModelRunner runner, string[] names, OrtValue[] values, CancellationToken cancellation)
    {
        for (var i = 0; i < warmupRuns; i++) runner.RunDiscardingOutputs(names, values);
        var times = new List<double>();
        var block = Stopwatch.StartNew();
        while (times.Count < maxRuns && (times.Count < minRuns || block.Elapsed.TotalSeconds < minSeconds))
        {
            cancellation.ThrowIfCancellationRequested();
            var start = Stopwatch.GetTimestamp();
            runner.RunDiscardingOutputs(names, values);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return Median(times);
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        var mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }
}
