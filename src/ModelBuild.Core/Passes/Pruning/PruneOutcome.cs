namespace ModelBuild.Passes.Pruning;

/// <summary>What a prune pass did, for the build report: per layer (channels kept or sparsity) and per schedule step.</summary>
public sealed class PruneOutcome
{
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
