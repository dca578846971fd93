using ModelBuild.Data;
using ModelBuild.Diagnostics;

namespace ModelBuild.Pipeline;

/// <summary>
/// What the pipeline needs from libtorch, implemented by ModelBuild.Torch and handed in by the tool, so the engine
/// itself never loads libtorch: PyTorch's own outputs for TorchScript sources (the parity reference) and the
/// <c>export.torchscript</c> artifact.
/// </summary>
public interface ITorchBackend
{
    /// <summary>Opens a TorchScript model for reference runs (forward's tensor arguments in order; outputs flattened in order).</summary>
    ITorchReference Open(string torchScriptPath, SourceLocation location);

    /// <summary>Writes <paramref name="destination"/>: the source re-saved in eval mode, reloaded and verified on the inputs. Returns the largest difference seen.</summary>
    double Resave(string source, string destination, IReadOnlyList<IReadOnlyList<NdArray>> verificationInputs, SourceLocation location);
}

public interface ITorchReference : IDisposable
{
    IReadOnlyList<NdArray> Run(IReadOnlyList<NdArray> inputs);
}
