using ModelBuild.Diagnostics;

namespace ModelBuild.Manifest;

/// <summary>A threshold as written in the manifest: its value and where, so a violation points at that line.</summary>
public readonly record struct Threshold(double Value, SourceLocation Location);

public abstract class CheckSpec
{
    /// <summary><c>severity: warning</c> downgrades a violation to a warning.</summary>
    public Severity Severity { get; init; } = Severity.Error;
    public required SourceLocation Location { get; init; }
}

public sealed class ParityCheckSpec : CheckSpec
{
    public required Threshold MaxAbs { get; init; }
}

public sealed class AccuracyCheckSpec : CheckSpec
{
    public Threshold? Min { get; init; }

    /// <summary>Largest allowed absolute drop versus the source model, as a fraction (0.01 = one point).</summary>
    public Threshold? MaxDrop { get; init; }

    /// <summary>Largest allowed drop relative to the source model's score, in percent (1 = 1 % of the source score).</summary>
    public Threshold? MaxDropPercent { get; init; }
}

public sealed class LatencyCheckSpec : CheckSpec
{
    /// <summary>
    /// The largest checks.latency.batch: the measured batch is held in memory (evaluation samples repeated up to it),
    /// so an absurd value would exhaust memory instead of measuring anything.
    /// </summary>
    public const int MaxBatch = 4096;

    public required Threshold P95Ms { get; init; }
    public int Batch { get; init; } = 1;
}

public sealed class SizeCheckSpec : CheckSpec
{
    public required Threshold MaxMb { get; init; }
}

/// <summary>
/// <c>checks.similarity</c>: the floor on a lossy artifact's cosine similarity to the source's outputs. Applies by
/// default (<see cref="DefaultMinCosine"/>) to lossy variants of a model without <c>checks.accuracy</c>, so an fp16
/// or int8 artifact that no longer computes the model can never pass silently.
/// </summary>
public sealed class SimilarityCheckSpec : CheckSpec
{
    public const double DefaultMinCosine = 0.99;

    public required Threshold MinCosine { get; init; }
}

public sealed class ChecksSpec
{
    public ParityCheckSpec? Parity { get; init; }

    /// <summary>Null: the default floor applies to lossy variants when there is no accuracy check.</summary>
    public SimilarityCheckSpec? Similarity { get; init; }
    public AccuracyCheckSpec? Accuracy { get; init; }
    public LatencyCheckSpec? Latency { get; init; }
    public SizeCheckSpec? Size { get; init; }
    public bool Checklist { get; init; }

    /// <summary><c>checklist: { severity: warning }</c> downgrades checklist findings to warnings.</summary>
    public Severity ChecklistSeverity { get; init; } = Severity.Error;
    public SourceLocation? ChecklistLocation { get; init; }
}
