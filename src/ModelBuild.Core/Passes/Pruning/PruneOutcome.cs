namespace ModelBuild.Passes.Pruning;

/// <summary>What a prune pass did, for the build report: per layer (channels kept or sparsity) and per schedule step.</summary>
public sealed class PruneOutcome
{
    /// <summary>What the report shows of this outcome (per-layer channels or sparsity, and each schedule step).</summary>
    public Results.PruningReport ToReport() => new(
        Method,
        Amount,
        Channels.Select(c => new Results.PruneLayerReport(c.Node, c.OpType, null, c.Channels, c.Kept, null))
            .Concat(Sparsity.Select(s => new Results.PruneLayerReport(s.Node, s.OpType, s.Tensor, null, null, Math.Round(s.Sparsity, 6))))
            .ToList(),
        Steps.Select(s => new Results.PruneStepReport(s.Amount, s.SizeBytes, s.P50Ms, s.Score is { } v ? Math.Round(v, 6) : null,
            s.Drop is { } d ? Math.Round(d, 6) : null, s.Kept, s.FineTuneLosses?.Select(l => Math.Round(l, 6)).ToList())).ToList());

    public required string Method { get; init; }

    /// <summary>The amount of the model written (the last step that kept the accuracy goal).</summary>
    public double Amount { get; set; }
    public List<ChannelPruneLayer> Channels { get; } = new();
    public List<SparsityLayer> Sparsity { get; } = new();

    /// <summary>Step 0 is the input model; then one per amount tried.</summary>
    public List<PruneStep> Steps { get; } = new();
}

/// <param name="Score">The evaluate metric (null without evaluate data); <paramref name="Drop"/> against step 0.</param>
/// <param name="Kept">This step's model is the one written (or was a good step before it).</param>
public sealed record PruneStep(double Amount, long SizeBytes, double P50Ms, double? Score, double? Drop, bool Kept,
    IReadOnlyList<double>? FineTuneLosses);
