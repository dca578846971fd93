using ModelBuild.Diagnostics;
using ModelBuild.TorchScript;

namespace ModelBuild.Pipeline;

public sealed class BuildOptions
{
    public required string OutputDirectory { get; init; }

    /// <summary>ONNX Runtime intra-op threads for evaluation and latency (1 keeps numbers stable on shared CI machines).</summary>
    public int IntraOpThreads { get; init; } = 1;

    /// <summary>Evaluation batch size for models with a dynamic batch axis.</summary>
    public int EvaluationBatch { get; init; } = 32;

    /// <summary>Samples generated for parity when the manifest gives no evaluation data.</summary>
    public int SyntheticSamples { get; init; } = 16;

    /// <summary>
    /// Time budget, in seconds, for one artifact's latency measurement and for one variant's paired comparison with
    /// base. Fast models reach their run counts long before it; a model that takes seconds per inference is timed
    /// over a few runs instead of dozens, so it builds in minutes (checks.latency still gets at least 3 timed runs).
    /// </summary>
    public double LatencySeconds { get; init; } = 5;

    public int Seed { get; init; } = 20240611;

    /// <summary>libtorch for TorchScript sources (reference outputs, export.torchscript); null where it is not available.</summary>
    public ITorchBackend? Torch { get; init; }

    /// <summary>libtorch training for prune.finetune (ModelBuild.Torch); null where it is not available.</summary>
    public Passes.Pruning.IFineTuner? FineTuner { get; init; }

    public IBuildLog Log { get; init; } = new NullBuildLog();

    /// <summary>Also log a line when each step starts (the MSBuild task asks for it to name the step of a crash).</summary>
    public bool LogStepStarts { get; init; }
    public CancellationToken Cancellation { get; init; }
}
