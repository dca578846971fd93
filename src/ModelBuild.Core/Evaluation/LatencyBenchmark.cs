using System.Diagnostics;
using ModelBuild.Data;
using ModelBuild.Execution;

namespace ModelBuild.Evaluation;

/// <summary>Latency of one model on one batch: percentiles over repeated timed runs after warm-up.</summary>
public sealed record LatencyStats(int Batch, int Iterations, double P50Ms, double P95Ms, double P99Ms, double MeanMs)
{
    public double ThroughputPerSecond => MeanMs > 0 ? Batch * 1000.0 / MeanMs : 0;

    /// <summary>Every timed run, ascending, in ms (kept for the report's latency distribution).</summary>
    public IReadOnlyList<double> SortedSamples { get; init; } = [];

    public static LatencyStats From(int batch, IEnumerable<double> timedRunsMs)
    {
        var samples = timedRunsMs.ToList();
        var summary = Percentiles.Summarize(samples);
        samples.Sort();
        return new LatencyStats(batch, samples.Count, summary.P50, summary.P95, summary.P99, samples.Average()) { SortedSamples = samples };
    }
}

/// <summary>
/// Measures latency the same way for every artifact: one intra-op thread, warm-up runs first (allocator and
/// kernel caches), then timed runs until both a minimum count and a minimum time are reached, capped. A model that
/// takes seconds per run would make those counts take minutes, so <paramref name="maxSeconds"/> bounds the whole
/// measurement: warm-up stops after a quarter of it, timing after all of it once <see cref="FloorRuns"/> runs exist.
/// Inputs are converted once, outside the timed region, so only the model is measured.
/// </summary>
public sealed class LatencyBenchmark(int warmupRuns = 10, int minRuns = 30, int maxRuns = 500, double minSeconds = 0.5,
    double maxSeconds = double.PositiveInfinity)
{
    /// <summary>Timed runs a measurement keeps even past its time budget: fewer make no percentile.</summary>
    public const int FloorRuns = 3;

    public LatencyStats Measure(ModelRunner runner, IReadOnlyDictionary<string, NdArray> inputs, int batch, CancellationToken cancellation = default)
    {
        inputs = runner.Adapt(inputs);
        var names = inputs.Keys.ToArray();
        var values = names.Select(n => ModelRunner.ToOrtValue(inputs[n])).ToArray();
        try
        {
            var total = Stopwatch.StartNew();
            for (var i = 0; i < warmupRuns && (i == 0 || total.Elapsed.TotalSeconds < maxSeconds / 4); i++)
                runner.RunDiscardingOutputs(names, values);

            var samples = new List<double>(Math.Min(maxRuns, 1024));
            var timed = Stopwatch.StartNew();
            while (samples.Count < maxRuns && (samples.Count < minRuns || timed.Elapsed.TotalSeconds < minSeconds)
                   && !(samples.Count >= FloorRuns && total.Elapsed.TotalSeconds >= maxSeconds))
            {
                cancellation.ThrowIfCancellationRequested();
                var start = Stopwatch.GetTimestamp();
                runner.RunDiscardingOutputs(names, values);
                samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            return LatencyStats.From(batch, samples);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }
}
