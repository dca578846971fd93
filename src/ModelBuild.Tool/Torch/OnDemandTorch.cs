using System.Reflection;
using System.Runtime.InteropServices;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Passes.Pruning;
using ModelBuild.TorchScript.Conversion;
using ModelBuild.TorchScript;

namespace ModelBuild.Tool.Torch;

/// <summary>
/// The pipeline's libtorch, loaded the first time a model needs it (a TorchScript or TorchSharp source,
/// export.torchscript, prune.finetune, quantize mode qat). Where it cannot load, that first use fails with MB2050 at the manifest key
/// that asked for it, saying what to add; an ONNX-only build never touches it.
/// </summary>
internal sealed class OnDemandTorch(TorchSettings settings) : ITorchBackend, IFineTuner
{
    private readonly Lock _gate = new();
    private (ITorchBackend Backend, IFineTuner FineTuner)? _plugin;

    public ITorchReference Open(string torchScriptPath, SourceLocation location, IReadOnlyList<ForwardArgument>? call = null) =>
        Load("a TorchScript source (PyTorch's own outputs are the reference its conversion is checked against)", location)
            .Backend.Open(torchScriptPath, location, call);

    public double Resave(string source, string destination, IReadOnlyList<IReadOnlyList<NdArray>> verificationInputs, SourceLocation location) =>
        Load("export.torchscript", location).Backend.Resave(source, destination, verificationInputs, location);

    public ITorchSharpModel OpenTorchSharp(TorchSharpSource source, SourceLocation location) =>
        Load("a TorchSharp source", location).Backend.OpenTorchSharp(source, location);

    public FineTuneResult FineTune(string inputOnnx, string outputOnnx, FineTuneSettings fineTune, bool keepZeros, SourceLocation location,
        CancellationToken cancellation) =>
        Load("fine-tuning", location).FineTuner.FineTune(inputOnnx, outputOnnx, fineTune, keepZeros, location, cancellation);

    public FineTuneResult FineTuneQuantized(string inputQdqOnnx, string outputOnnx, FineTuneSettings fineTune, QatTraining qat,
        SourceLocation location, CancellationToken cancellation) =>
        Load("quantization-aware training", location).FineTuner.FineTuneQuantized(inputQdqOnnx, outputOnnx, fineTune, qat, location, cancellation);

    private (ITorchBackend Backend, IFineTuner FineTuner) Load(string need, SourceLocation location)
    {
        lock (_gate)
        {
            return _plugin ??= LoadPlugin(need, location);
        }
    }

    private (ITorchBackend, IFineTuner) LoadPlugin(string need, SourceLocation location)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw Unavailable(location,
                $"{need} needs libtorch, which ModelBuild runs on Linux x64 only (this is {RuntimeInformation.RuntimeIdentifier}). " +
                "ONNX sources build on every OS: export the model with torch.onnx.export and name the .onnx file as the source.");
        if (!settings.Enabled)
            throw Unavailable(location, $"{need} needs libtorch, which this build does not have. {settings.Remedy}");
        var packages = LibtorchPackages.Find(settings.PackageFolders)
            ?? throw Unavailable(location,
                $"{need} needs libtorch: {LibtorchPackages.TorchSharpId} {LibtorchPackages.TorchSharpVersion} and {LibtorchPackages.LibTorchId} " +
                $"{LibtorchPackages.LibTorchVersion} were not found in {string.Join(", ", settings.PackageFolders)}. {settings.Remedy}");

        var pluginDirectory = Path.Combine(AppContext.BaseDirectory, "torch");
        var pluginPath = Path.Combine(pluginDirectory, "ModelBuild.Torch.dll");
        if (!File.Exists(pluginPath))
            throw new ModelBuildException(DiagnosticCodes.Internal, $"the tool is incomplete: {pluginPath} is missing; reinstall ModelBuild",
                location);
        var context = new TorchLoadContext(pluginDirectory, packages.TorchSharpAssembly);
        var type = context.LoadFromAssemblyPath(pluginPath).GetType("ModelBuild.Torch.TorchPlugin", throwOnError: true)!;
        var plugin = Activator.CreateInstance(type, [packages.NativeDirectories])!;
        return ((ITorchBackend)Property(type, plugin, "Backend"), (IFineTuner)Property(type, plugin, "FineTuner"));
    }

    private static object Property(Type type, object instance, string name) =>
        type.GetProperty(name, BindingFlags.Public | BindingFlags.Instance)!.GetValue(instance)!;

    private static ModelBuildException Unavailable(SourceLocation location, string message) =>
        new(DiagnosticCodes.TorchRuntimeUnavailable, message, location);
}
