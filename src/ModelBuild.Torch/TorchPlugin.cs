using ModelBuild.Passes.Pruning;
using ModelBuild.TorchScript;

namespace ModelBuild.Torch;

/// <summary>
/// The entry point the modelbuild tool calls after loading this assembly on demand (TorchSharp is not in the tool's
/// deps.json, so its folders are handed in). Constructing it loads nothing native; libtorch loads on first use.
/// </summary>
public sealed class TorchPlugin
{
    /// <param name="nativeDirectories">Folders holding libLibTorchSharp.so and libtorch_cpu.so.</param>
    public TorchPlugin(IReadOnlyList<string> nativeDirectories)
    {
        TorchNativeLoader.AddSearchDirectories(nativeDirectories);
    }

    public ITorchBackend Backend { get; } = new TorchBackend();

    public IFineTuner FineTuner { get; } = new OnnxFineTuner();
}
