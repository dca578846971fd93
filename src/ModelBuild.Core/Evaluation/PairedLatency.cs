using System.Diagnostics;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Runtime;

namespace ModelBuild.Evaluation;

/// <summary>
/// A variant's p50 latency relative to the artifact it is compared with, measured run by run in alternation
/// (base, variant, base, variant, …) so that load on a shared machine hits both alike. Each artifact's own latency in
/// the report is measured at a different moment; a ratio of those two numbers swings with whatever else the machine
/// was doing in between, while a burst of load here lands on neighbouring runs of both.
/// </summary>
public sealed class PairedLatency(int intraOpThreads, int warmupRuns = 3, int minPairs = 20, int maxPairs = 400, double minSeconds = 0.3)
{
    /// <returns>median(variant run times) / median(base run times) over the alternating pairs.</returns>
    public double Ratio(string basePath, string variantPath, IReadOnlyDictionary<string, NdArray> inputs, SourceLocation location,
        CancellationToken cancellation = default)
    {
        using var baseRunner = new ModelRunner(basePath, location, intraOpThreads);
        using var variantRunner = new ModelRunner(variantPath, location, intraOpThreads);
        var names = inputs.Keys.ToArray();
        var values = names.Select(n => ModelRunner.ToOrtValue(inputs[n])).ToArray();
        try
        {
            for (var i = 0; i < warmupRuns; i++)
            {
                baseRunner.RunDiscardingOutputs(names, values);
                variantRunner.RunDiscardingOutputs(names, values);
            }
            var baseTimes = new List<double>();
            var variantTimes = new List<double>();
            var total = Stopwatch.StartNew();
            while (baseTimes.Count < maxPairs && (baseTimes.Count < minPairs || total.Elapsed.TotalSeconds < minSeconds))
            {
                cancellation.ThrowIfCancellationRequested();
                baseTimes.Add(Time(baseRunner, names, values));
                variantTimes.Add(Time(variantRunner, names, values));
            }
            return Median(variantTimes) / Math.Max(Median(baseTimes), 1e-9);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private static double Time(ModelRunner runner, string[] names, Microsoft.ML.OnnxRuntime.OrtValue[] values)
    {
        var start = Stopwatch.GetTimestamp();
        runner.RunDiscardingOutputs(names, values);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    private static double Median(List<double> times)
    {
        times.Sort();
        var mid = times.Count / 2;
        return times.Count % 2 == 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    }
}
