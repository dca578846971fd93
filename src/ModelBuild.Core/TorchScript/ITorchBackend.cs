using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.TorchScript.Conversion;
using Onnx;

namespace ModelBuild.TorchScript;

/// <summary>
/// What the pipeline needs from libtorch, implemented by ModelBuild.Torch and handed in by the tool, so the engine
/// itself never loads libtorch: PyTorch's own outputs for TorchScript sources (the parity reference), the
/// <c>export.torchscript</c> artifact, and TorchSharp (C#) modules.
/// </summary>
public interface ITorchBackend
{
    /// <summary>
    /// Opens a TorchScript model for reference runs. <paramref name="call"/> says how forward() is called (declared
    /// inputs and flag values, see <see cref="TorchScriptToOnnx.ForwardArguments"/>); null = the inputs in order.
    /// Outputs are flattened in order.
    /// </summary>
    ITorchReference Open(string torchScriptPath, SourceLocation location, IReadOnlyList<ForwardArgument>? call = null);

    /// <summary>
    /// Writes <paramref name="destination"/>: the source re-saved in eval mode, reloaded and verified on the inputs.
    /// Returns the largest difference seen.
    /// </summary>
    double Resave(string source, string destination, IReadOnlyList<IReadOnlyList<NdArray>> verificationInputs, SourceLocation location);

    /// <summary>
    /// Loads a TorchSharp module (its assembly, type and weights) in eval mode: its own forward is the reference, and it exports to ONNX.
    /// </summary>
    ITorchSharpModel OpenTorchSharp(TorchSharpSource source, SourceLocation location);
}

public interface ITorchReference : IDisposable
{
    IReadOnlyList<NdArray> Run(IReadOnlyList<NdArray> inputs);
}

/// <summary>A loaded TorchSharp module: runs its C# forward, and exports its module tree to ONNX.</summary>
public interface ITorchSharpModel : ITorchReference
{
    ModelProto ToOnnx(ConversionOptions options);
}
