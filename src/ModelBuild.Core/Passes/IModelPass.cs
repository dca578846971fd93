using ModelBuild.Diagnostics;

namespace ModelBuild.Passes;

/// <summary>
/// One rewrite of an ONNX model: reads <see cref="PassContext.InputPath"/>, writes <see cref="PassContext.OutputPath"/>.
/// Each pass lives in its own file with its typed settings; <see cref="PassPlanner"/> turns a variant into passes.
/// </summary>
public interface IModelPass
{
    /// <summary>Short name for logs and the report ("optimize:extended").</summary>
    string Name { get; }

    /// <summary>True when outputs must match the input model's to float tolerance, so the parity check applies.</summary>
    bool IsLossless { get; }

    void Run(PassContext context);
}

public sealed record PassContext(string InputPath, string OutputPath, string ModelName, string VariantName, CancellationToken Cancellation)
{
    /// <summary>What a pass found out along the way, for the build report (per-layer quantization errors, notes).</summary>
    public PassOutcome Outcome { get; init; } = new();

    /// <summary>Progress of long passes (calibration).</summary>
    public IBuildLog Log { get; init; } = new NullBuildLog();
}

public sealed class PassOutcome
{
    public List<Quantization.LayerError> LayerErrors { get; } = new();
    public List<string> Notes { get; } = new();

    /// <summary>Quantized variants: the nodes left in float for speed or accuracy, with the measured times.</summary>
    public List<Quantization.KeptFloatNode> KeptFloat { get; } = new();

    /// <summary>What the user should see as a warning at the variant (a variant that changes nothing, say).</summary>
    public List<string> Warnings { get; } = new();

    /// <summary>Prune passes: per-layer and per-step figures.</summary>
    public Pruning.PruneOutcome? Pruning { get; set; }
}
