namespace ModelBuild.Reports;

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

    /// <summary>What parity is measured against: "pytorch" (libtorch running the TorchScript source), "torchsharp" (the C# module's own forward) or "onnx source".</summary>
    public string? ParityReference { get; set; }
    public string? Deployed { get; set; }
    public List<ArtifactReport> Artifacts { get; } = new();
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
    public long SizeBytes { get; set; }
    public double SizeMb => SizeBytes / (1024.0 * 1024.0);
    public Dictionary<string, ParityReport> Parity { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, OutputStatsReport> OutputStats { get; } = new(StringComparer.Ordinal);
    public double? ParityMaxAbs => Parity.Count == 0 ? null : Parity.Values.Max(p => p.MaxAbs);
    public double? Score { get; set; }
    public double? ScoreDrop { get; set; }
    public LatencyReport? Latency { get; set; }
    public List<CheckReport> Checks { get; } = new();
    public bool Passed => Checks.All(c => c.Passed || c.Severity != "error");
}

/// <summary>Value range of one output over the evaluation set, and how many values were NaN or infinite.</summary>
public sealed record OutputStatsReport(double Min, double Max, long NanCount, long InfCount);

/// <param name="AddedError">Relative error this layer adds over its inputs' — the layers worth keeping in float.</param>
public sealed record LayerErrorReport(string Node, string OpType, string Tensor, double Cosine, double RelativeError, double AddedError);

public sealed record ParityReport(double MaxAbs, double MeanAbs, double MaxRel, double Cosine);

public sealed record LatencyReport(int Batch, int Iterations, double P50Ms, double P95Ms, double P99Ms, double MeanMs, double ThroughputPerSecond);

/// <summary>One check of one artifact. <see cref="At"/> is where the diagnostic points (not serialized; <see cref="Location"/> is).</summary>
public sealed record CheckReport(string Check, string Code, string Comparison, double Threshold, double? Measured, bool Passed, string Severity, string? Location, string Message,
    [property: System.Text.Json.Serialization.JsonIgnore] ModelBuild.Diagnostics.SourceLocation? At = null);

public sealed record DiagnosticReport(string Code, string Severity, string Message, string? Location);
