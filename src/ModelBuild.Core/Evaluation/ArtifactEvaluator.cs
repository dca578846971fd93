using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;
using ModelBuild.Results;
using ModelBuild.TorchScript;

namespace ModelBuild.Evaluation;

/// <summary>
/// Runs one artifact in ONNX Runtime on the model's evaluation set and measures what the checks judge:
/// parity with the source model's outputs, the metric score, latency, and size on disk.
/// </summary>
public sealed class ArtifactEvaluator(EvaluationSet set, ModelInterface model, MetricKind metric, int evaluationBatch, int intraOpThreads,
    CancellationToken cancellation,
    IBuildLog? log = null, double latencySeconds = double.PositiveInfinity)
{
    private readonly IBuildLog _log = log ?? new NullBuildLog();

    public IReadOnlyDictionary<string, NdArray> Run(string artifactPath, SourceLocation location)
    {
        using var runner = new ModelRunner(artifactPath, location, intraOpThreads);
        using var progress = _log.BeginProgress("run source model", set.Count);
        return BatchedRunner.Run(runner, set, BatchedRunner.BatchSizeFor(model, evaluationBatch), BatchedRunner.HasFixedBatch(model), cancellation,
            (done, _) => progress.Report(done));
    }

    /// <summary>Runs the source model in libtorch (TorchScript sources): PyTorch's own outputs, named like the ONNX outputs.</summary>
    public IReadOnlyDictionary<string, NdArray> RunReference(ITorchReference reference)
    {
        var inputNames = model.Inputs.Select(i => i.Name).ToList();
        var outputNames = model.Outputs.Select(o => o.Name).ToList();
        return BatchedRunner.Run(batch =>
        {
            var outputs = reference.Run(inputNames.Select(n => batch[n]).ToList());
            if (outputs.Count != outputNames.Count)
                throw new ModelBuildException(DiagnosticCodes.ModelInterfaceMismatch,
                    $"PyTorch returned {outputs.Count} output(s) but the converted model has {outputNames.Count}");
            return outputNames.Select((n, i) => (n, outputs[i])).ToDictionary(p => p.n, p => p.Item2, StringComparer.Ordinal);
        }, set, BatchedRunner.BatchSizeFor(model, evaluationBatch), BatchedRunner.HasFixedBatch(model), cancellation);
    }

    /// <param name="latencyLocation">Where checks.latency is, for a latency batch too large to hold; else <paramref name="location"/>.</param>
    /// <param name="timeLatency">False for variants: their latency is measured beside base (<see cref="PairedLatency"/>).</param>
    public void Measure(ArtifactReport report, string artifactPath, IReadOnlyDictionary<string, NdArray> reference,
        int latencyBatch, SourceLocation location,
        SourceLocation? latencyLocation = null, bool timeLatency = true)
    {
        report.SizeBytes = new FileInfo(artifactPath).Length;
        // Peak memory is approximated by the process RSS around the session: sampled after creation, after each
        // batch and after the latency runs. Other threads and the GC move RSS too, so it is an estimate.
        var rssBefore = Environment.WorkingSet;
        using var runner = new ModelRunner(artifactPath, location, intraOpThreads);
        var rssPeak = Math.Max(rssBefore, Environment.WorkingSet);
        IReadOnlyDictionary<string, NdArray> outputs;
        using (var progress = _log.BeginProgress($"evaluate {report.Name}", set.Count))
            outputs = BatchedRunner.Run(runner, set, BatchedRunner.BatchSizeFor(model, evaluationBatch),
                BatchedRunner.HasFixedBatch(model), cancellation,
                (done, _) =>
                {
                    rssPeak = Math.Max(rssPeak, Environment.WorkingSet);
                    progress.Report(done);
                });

        Compare(report, outputs, reference, location);

        if (timeLatency)
            report.Latency = ToReport(new LatencyBenchmark(maxSeconds: latencySeconds)
                .Measure(runner, set.Take(latencyBatch, latencyLocation ?? location), latencyBatch, cancellation));
        rssPeak = Math.Max(rssPeak, Environment.WorkingSet);
        report.Memory = new MemoryReport(rssBefore, rssPeak, Math.Max(0, rssPeak - rssBefore));
    }

    /// <summary>Parity to the reference, output statistics and the score of outputs an artifact produced on the whole set.</summary>
    public void Compare(ArtifactReport report, IReadOnlyDictionary<string, NdArray> outputs, IReadOnlyDictionary<string, NdArray> reference,
        SourceLocation location)
    {
        outputs = WidenedLike(outputs, reference);
        foreach (var (name, expected) in reference)
        {
            if (!outputs.TryGetValue(name, out var actual))
                throw new ModelBuildException(DiagnosticCodes.ModelInterfaceMismatch, $"artifact '{report.Name}' lost output '{name}'", location);
            var parity = ParityResult.Compare(expected, actual);
            report.Parity[name] = new ParityReport(parity.MaxAbs, parity.MeanAbs, parity.MaxRel, parity.Cosine) { Magnitude = parity.Magnitude };
        }

        foreach (var (name, actual) in outputs)
            report.OutputStats[name] = Stats(actual);

        var primary = model.Outputs[0].Name;
        // A score that cannot be computed is the data's problem (labels out of range), reported where the data is named.
        report.Score = Scorer.Score(metric, outputs[primary], reference[primary], set.Labels, set.DataLocation ?? location);
    }

    public static LatencyReport ToReport(LatencyStats stats) =>
        new(stats.Batch, stats.Iterations, R(stats.P50Ms), R(stats.P95Ms), R(stats.P99Ms), R(stats.MeanMs), R(stats.ThroughputPerSecond))
        {
            MinMs = R(stats.SortedSamples[0]),
            MaxMs = R(stats.SortedSamples[^1]),
            Histogram = LatencyHistogram.From(stats.SortedSamples) is var h ? h with { StartMs = R(h.StartMs), BinWidthMs = R(h.BinWidthMs) } : null,
        };

    /// <summary>
    /// float16 outputs of an fp16 artifact without keep_io_types, as float32 where the source model's are float32:
    /// parity, the metric and the report then compare like with like.
    /// </summary>
    private static IReadOnlyDictionary<string, NdArray> WidenedLike(IReadOnlyDictionary<string, NdArray> outputs,
        IReadOnlyDictionary<string, NdArray> reference) =>
        outputs.ToDictionary(kv => kv.Key,
            kv => kv.Value.ElementType == TensorElementType.Float16 && reference.TryGetValue(kv.Key, out var r)
                    && r.ElementType == TensorElementType.Float32
                ? kv.Value.ToFloatType(TensorElementType.Float32)
                : kv.Value,
            StringComparer.Ordinal);

    /// <summary>Microsecond resolution is all a timer on a shared machine gives; fewer digits keep the report readable.</summary>
    private static double R(double ms) => Math.Round(ms, 4);

    private static OutputStatsReport Stats(NdArray output)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        long nan = 0, inf = 0;
        foreach (var v in output.ToDoubles())
        {
            if (double.IsNaN(v)) { nan++; continue; }
            if (double.IsInfinity(v)) { inf++; continue; }
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        return new OutputStatsReport(double.IsInfinity(min) ? 0 : min, double.IsInfinity(max) ? 0 : max, nan, inf);
    }
}
