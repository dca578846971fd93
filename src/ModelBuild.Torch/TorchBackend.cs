using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.TorchScript.Conversion;
using ModelBuild.TorchScript;

namespace ModelBuild.Torch;

/// <summary>The pipeline's view of libtorch (see <see cref="ITorchBackend"/>), backed by TorchSharp.</summary>
public sealed class TorchBackend : ITorchBackend
{
    public ITorchReference Open(string torchScriptPath, SourceLocation location, IReadOnlyList<ForwardArgument>? call = null) =>
        new Reference(TorchScriptRunner.Load(torchScriptPath, location), call);

    public double Resave(string source, string destination, IReadOnlyList<IReadOnlyList<NdArray>> verificationInputs, SourceLocation location) =>
        TorchScriptResaver.Resave(source, destination, verificationInputs.Select(i => i.Cast<object>().ToArray()).ToList(), location)
            .MaxAbsDifference;

    public ITorchSharpModel OpenTorchSharp(TorchSharpSource source, SourceLocation location) => TorchSharpModel.Load(source, location);

    private sealed class Reference(TorchScriptRunner runner, IReadOnlyList<ForwardArgument>? call) : ITorchReference
    {
        public IReadOnlyList<NdArray> Run(IReadOnlyList<NdArray> inputs) =>
            runner.Run(call is null
                ? inputs.Cast<object>().ToArray()
                : call.Select(a => a.Input is { } i ? inputs[i] : a.Value!).ToArray());

        public void Dispose() => runner.Dispose();
    }
}
