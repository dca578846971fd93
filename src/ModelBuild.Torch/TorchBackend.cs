using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Pipeline;

namespace ModelBuild.Torch;

/// <summary>The pipeline's view of libtorch (see <see cref="ITorchBackend"/>), backed by TorchSharp.</summary>
public sealed class TorchBackend : ITorchBackend
{
    public ITorchReference Open(string torchScriptPath, SourceLocation location) =>
        new Reference(TorchScriptRunner.Load(torchScriptPath, location));

    public double Resave(string source, string destination, IReadOnlyList<IReadOnlyList<NdArray>> verificationInputs, SourceLocation location) =>
        TorchScriptResaver.Resave(source, destination, verificationInputs.Select(i => i.Cast<object>().ToArray()).ToList(), location).MaxAbsDifference;

    private sealed class Reference(TorchScriptRunner runner) : ITorchReference
    {
        public IReadOnlyList<NdArray> Run(IReadOnlyList<NdArray> inputs) => runner.Run(inputs.Cast<object>().ToArray());

        public void Dispose() => runner.Dispose();
    }
}
