namespace ModelBuild.Results;

// The modelbuild-report.json schema (version 1), documented in docs/report.md. Property names are serialized
// in snake_case. Everything except the `timings` objects is reproducible: same inputs, same bytes... apart from
// measured latencies, which live under `latency` and vary run to run by nature.

public sealed class BuildReport
{
    public int ReportVersion { get; init; } = 1;
    public required string ToolVersion { get; init; }
    public required IReadOnlyList<string> Manifests { get; init; }
    public bool Passed { get; set; }
    public List<ModelReport> Models { get; } = new();
    public List<DiagnosticReport> Diagnostics { get; } = new();
    public Dictionary<string, double> TimingsMs { get; } = new(StringComparer.Ordinal);
}

public sealed class ModelReport
{
    public required string Name { get; init; }
    public required string Source { get; init; }
    public required string SourceKind { get; init; }
    public required IReadOnlyList<TensorReport> Inputs { get; init; }
    public required IReadOnlyList<TensorReport> Outputs { get; init; }
    public EvaluationReport? Evaluation { get; set; }

    /// <summary>
    /// What parity is measured against: "pytorch" (libtorch running the TorchScript source), "torchsharp" (the C# module's own
    /// forward) or "onnx source".
    /// </summary>
    public string? ParityReference { get; set; }
    public string? Deployed { get; set; }

    /// <summary>The model's image preprocessing (deploy.yaml's <c>preprocess</c>), as evaluation applied it; null when none.</summary>
    public Runtime.ImagePreprocessing? Preprocess { get; init; }
    public List<ArtifactReport> Artifacts { get; } = new();

    /// <summary>The TFLite file of the deployed artifact (deploy.mobile lists tflite); null otherwise.</summary>
    public TfliteReport? Tflite { get; set; }
}

/// <summary>
/// The TFLite file: its size beside its ONNX parent's, how much runs in int8, and — when an independent TFLite runtime
/// ran it — the same checks as its parent (<see cref="Judged"/>), or why nothing checked it.
/// </summary>
public sealed class TfliteReport
{
    public required string Path { get; init; }
    public required string From { get; init; }
    public required string Layout { get; init; }
    public required string Io { get; init; }
    public long SizeBytes { get; init; }
    public long OnnxSizeBytes { get; init; }
    public double SizeRatio => Math.Round((double)SizeBytes / Math.Max(1, OnnxSizeBytes), 4);
    public int Int8Ops { get; init; }
    public int FloatOps { get; init; }
    public required IReadOnlyList<TensorReport> Inputs { get; init; }
    public required IReadOnlyList<TensorReport> Outputs { get; init; }

    /// <summary>The runtime that ran the file (as it names itself), or null.</summary>
    public string? CheckedBy { get; set; }
    public string? NotChecked { get; set; }
    public ArtifactReport? Judged { get; set; }
}

public sealed record TensorReport(string Name, string Dtype, IReadOnlyList<string> Shape);

public sealed class EvaluationReport
{
    public required string Data { get; init; }
    public required int Samples { get; init; }
    public required string Metric { get; init; }
    public double? SourceScore { get; set; }
}

public sealed class ArtifactReport
{
    public required string Name { get; init; }
    public required string Path { get; init; }
    public string? From { get; init; }
    public IReadOnlyList<string> Passes { get; init; } = Array.Empty<string>();
    public bool Lossless { get; init; }

    /// <summary>What the passes reported (accuracy-aware rounds, nothing to quantize, …).</summary>
    public IReadOnlyList<string> PassNotes { get; init; } = Array.Empty<string>();

    /// <summary>Quantized variants: each quantized node's output, float vs quantized, on calibration samples.</summary>
    public IReadOnlyList<LayerErrorReport> LayerErrors { get; init; } = Array.Empty<LayerErrorReport>();

    /// <summary>Quantized variants: the nodes left in float, why (speed or accuracy) and, for speed, the measured kernel times.</summary>
    public IReadOnlyList<KeptFloatReport> KeptFloat { get; init; } = Array.Empty<KeptFloatReport>();

    /// <summary>Pruned variants: channels kept or sparsity per layer, and size/latency/accuracy per schedule step.</summary>
    public PruningReport? Pruning { get; init; }
    public long SizeBytes { get; set; }
    public double SizeMb => SizeBytes / (1024.0 * 1024.0);
    public Dictionary<string, ParityReport> Parity { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, OutputStatsReport> OutputStats { get; } = new(StringComparer.Ordinal);
    public double? ParityMaxAbs => Parity.Count == 0 ? null : Parity.Values.Max(p => p.MaxAbs);
    public double? Score { get; set; }
    public double? ScoreDrop { get; set; }
    public LatencyReport? Latency { get; set; }

    /// <summary>Variants: size and p50 latency relative to <c>base</c> (the fp32 export), so a gain reads directly.</summary>
    public BaseComparisonReport? VsBase { get; set; }

    /// <summary>Approximate memory the ONNX Runtime session took (process RSS growth); see docs/report.md.</summary>
    public MemoryReport? Memory { get; set; }
    public List<CheckReport> Checks { get; } = new();
    public bool Passed => Checks.All(c => c.Passed || c.Severity != "error");
}

/// <param name="Amount">The amount of the model written (the last step within the accuracy goal).</param>
public sealed record PruningReport(string Method, double Amount, IReadOnlyList<PruneLayerReport> Layers, IReadOnlyList<PruneStepReport> Steps);

/// <summary>Structured: <see cref="Channels"/> before pruning and <see cref="Kept"/>; unstructured: the weight's <see cref="Sparsity"/>.</summary>
public sealed record PruneLayerReport(string Node, string OpType, string? Tensor, int? Channels, int? Kept, double? Sparsity);

/// <summary>Step 0 is the input model. <see cref="Drop"/> is against step 0; <see cref="Kept"/> false = the step that broke the goal.</summary>
public sealed record PruneStepReport(double Amount, long SizeBytes, double P50Ms, double? Score, double? Drop, bool Kept,
    IReadOnlyList<double>? FineTuneLosses);

/// <summary>Value range of one output over the evaluation set, and how many values were NaN or infinite.</summary>
/// <param name="SizeRatio">This artifact's file size / base's.</param>
/// <param name="P50Ratio">p50 latency / base's, measured in alternating blocks with base (median of 5 rounds), not the
/// quotient of the two latency fields, which were measured at different moments.</param>
public sealed record BaseComparisonReport(double SizeRatio, double P50Ratio);

public sealed record OutputStatsReport(double Min, double Max, long NanCount, long InfCount);

/// <param name="AddedError">Relative error this layer adds over its inputs' — the layers worth keeping in float.</param>
public sealed record LayerErrorReport(string Node, string OpType, string Tensor, double Cosine, double RelativeError, double AddedError);

/// <summary>A node a quantizer left in float: reason "speed" (with float and int8 times in µs per run) or "accuracy".</summary>
public sealed record KeptFloatReport(string Node, string OpType, string Reason, double? FloatUs, double? Int8Us, string Detail);

public sealed record ParityReport(double MaxAbs, double MeanAbs, double MaxRel, double Cosine)
{
    /// <summary>Largest |reference output|.</summary>
    public double Magnitude { get; init; }
}

public sealed record LatencyReport(int Batch, int Iterations, double P50Ms, double P95Ms, double P99Ms, double MeanMs, double ThroughputPerSecond)
{
    public double MinMs { get; init; }
    public double MaxMs { get; init; }

    /// <summary>The timed runs in equal-width bins from <see cref="MinMs"/> to <see cref="MaxMs"/>.</summary>
    public LatencyHistogram? Histogram { get; init; }
}

/// <summary>
/// Counts of timed runs per bin; bin i covers [StartMs + i·BinWidthMs, StartMs + (i+1)·BinWidthMs). The bins span
/// min to the smaller of max and p50 + 3·(p95 − p50), and the last one also counts the slower runs: a few 10 ms
/// hiccups on a busy machine would otherwise squeeze every other run into the first bin.
/// </summary>
public sealed record LatencyHistogram(double StartMs, double BinWidthMs, IReadOnlyList<int> Counts)
{
    public const int DefaultBins = 20;

    public static LatencyHistogram From(IReadOnlyList<double> samples, int bins = DefaultBins)
    {
        if (samples.Count == 0) return new LatencyHistogram(0, 0, []);
        var (min, max) = (samples.Min(), samples.Max());
        var p = Data.Percentiles.Summarize(samples);
        var end = Math.Min(max, p.P50 + 3 * (p.P95 - p.P50));
        if (end <= min) end = max;
        var width = end > min ? (end - min) / bins : 0;
        var counts = new int[width > 0 ? bins : 1];
        foreach (var v in samples)
            counts[width > 0 ? Math.Min(bins - 1, (int)((v - min) / width)) : 0]++;
        return new LatencyHistogram(min, width, counts);
    }
}

/// <param name="RssBeforeBytes">Process resident set size just before the session was created.</param>
/// <param name="RssPeakBytes">Largest resident set size sampled while the session was created and ran (evaluation and latency runs).</param>
/// <param name="PeakGrowthBytes">RssPeakBytes − RssBeforeBytes, at least 0: the session's approximate peak memory.</param>
public sealed record MemoryReport(long RssBeforeBytes, long RssPeakBytes, long PeakGrowthBytes);

/// <summary>One check of one artifact. <see cref="At"/> is where the diagnostic points (not serialized; <see cref="Location"/> is).</summary>
public sealed record CheckReport(string Check, string Code, string Comparison, double Threshold, double? Measured, bool Passed, string Severity,
    string? Location, string Message,
    [property: System.Text.Json.Serialization.JsonIgnore] ModelBuild.Diagnostics.SourceLocation? At = null);

public sealed record DiagnosticReport(string Code, string Severity, string Message, string? Location);
