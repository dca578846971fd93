using System.Reflection;
using System.Runtime.Loader;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.TorchScript.Conversion;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;
using ModelBuild.TorchScript;

namespace ModelBuild.Torch;

/// <summary>
/// A user's TorchSharp module: its assembly loaded into a collectible context of its own (unloaded on dispose, so a
/// long-lived process does not accumulate user code), the type instantiated, the weights loaded, eval mode. Runs
/// its C# forward as the parity reference and exports its module tree to ONNX (<see cref="ModuleExporter"/>).
/// </summary>
public sealed class TorchSharpModel : ITorchSharpModel
{
    private readonly ModuleLoadContext _context;
    private readonly SourceLocation _location;
    private readonly MethodInfo _forward;
    private bool _disposed;

    private TorchSharpModel(ModuleLoadContext context, nn.Module module, MethodInfo forward, string typeName, SourceLocation location)
    {
        _context = context;
        Module = module;
        _forward = forward;
        TypeName = typeName;
        _location = location;
    }

    internal nn.Module Module { get; }
    public string TypeName { get; }

    /// <summary>
    /// Loads <paramref name="source"/>. The type is a <c>torch.nn.Module</c> with a public parameterless constructor,
    /// or any type with a public static parameterless <c>Create()</c> returning one (the shape for a plain Sequential).
    /// </summary>
    public static TorchSharpModel Load(TorchSharpSource source, SourceLocation? location = null)
    {
        var at = location ?? new SourceLocation(source.Assembly);
        TorchNativeLoader.EnsureLoaded();
        torch.set_num_threads(1);
        if (!File.Exists(source.Assembly))
            throw new ModelBuildException(DiagnosticCodes.ModelUnreadable, $"TorchSharp assembly not found: {source.Assembly}", at);

        var context = new ModuleLoadContext(source.Assembly);
        nn.Module? module = null;
        try
        {
            Assembly assembly;
            try
            {
                assembly = context.LoadMain();
            }
            catch (Exception e) when (e is BadImageFormatException or FileLoadException or IOException)
            {
                throw new ModelBuildException(DiagnosticCodes.ModelUnreadable,
                    $"{source.Assembly} is not a loadable .NET assembly: {e.Message}", at, e);
            }
            // A module without weights keeps its constructor's initialization: seeded, so builds are reproducible.
            torch.manual_seed(0);
            module = Instantiate(assembly, source, at);
            if (source.Weights is { } weights)
            {
                try
                {
                    module.load(weights, strict: true);
                }
                catch (Exception e) when (e is not ModelBuildException)
                {
                    throw new ModelBuildException(DiagnosticCodes.ModelUnreadable,
                        $"cannot load weights {weights} into {source.Type} (a file written by TorchSharp's Module.save for this module is " +
                        $"expected): {TorchScriptRunner.FirstLine(e.Message)}", at, e);
                }
            }
            module.eval();
            var forward = FindForward(module) ?? throw new ModelBuildException(DiagnosticCodes.UnsupportedModelSource,
                $"{source.Type} has no forward(...) taking only tensors; ModelBuild feeds the declared inputs to forward in order", at);
            return new TorchSharpModel(context, module, forward, source.Type, at);
        }
        catch
        {
            module?.Dispose();
            context.Unload();
            throw;
        }
    }

    private static nn.Module Instantiate(Assembly assembly, TorchSharpSource source, SourceLocation at)
    {
        var type = assembly.GetType(source.Type, throwOnError: false);
        if (type is null)
        {
            var candidates = SafeTypes(assembly).Where(t => t.IsPublic && (typeof(nn.Module).IsAssignableFrom(t) || CreateMethod(t) is not null))
                .Select(t => t.FullName).Take(10).ToList();
            throw new ModelBuildException(DiagnosticCodes.UnsupportedModelSource,
                $"type '{source.Type}' is not in {Path.GetFileName(source.Assembly)}" +
                (candidates.Count > 0 ? $"; its modules are {string.Join(", ", candidates)}" : "; it defines no public torch.nn.Module types"), at);
        }
        Func<object?> create;
        if (CreateMethod(type) is { } factory) create = () => factory.Invoke(null, null);
        else if (typeof(nn.Module).IsAssignableFrom(type) && !type.IsAbstract && type.GetConstructor(Type.EmptyTypes) is { } ctor)
            create = () => ctor.Invoke(null);
        else
            throw new ModelBuildException(DiagnosticCodes.UnsupportedModelSource,
                $"cannot create '{source.Type}': give it a public parameterless constructor (it must derive from torch.nn.Module), or a public " +
                $"static Create() method returning a torch.nn.Module", at);
        try
        {
            return create() as nn.Module ?? throw new ModelBuildException(DiagnosticCodes.UnsupportedModelSource,
                $"{source.Type}.Create() returned null", at);
        }
        catch (TargetInvocationException e)
        {
            throw new ModelBuildException(DiagnosticCodes.UnsupportedModelSource,
                $"creating '{source.Type}' failed: {e.InnerException?.GetType().Name}: {e.InnerException?.Message}", at, e.InnerException ?? e);
        }
    }

    private static MethodInfo? CreateMethod(Type t) =>
        t.GetMethod("Create", BindingFlags.Public | BindingFlags.Static, Type.EmptyTypes) is { } m
            && typeof(nn.Module).IsAssignableFrom(m.ReturnType) ? m : null;

    private static IEnumerable<Type> SafeTypes(Assembly a)
    {
        try { return a.GetTypes(); }
        catch (ReflectionTypeLoadException e) { return e.Types.OfType<Type>(); }
    }

    /// <summary>The public forward whose parameters are all tensors (Module&lt;Tensor, Tensor&gt; and friends).</summary>
    private static MethodInfo? FindForward(nn.Module module) =>
        module.GetType().GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.Name == "forward" && m.GetParameters().Length > 0 && m.GetParameters().All(p => p.ParameterType == typeof(Tensor)))
            .OrderBy(m => m.GetParameters().Length)
            .FirstOrDefault();

    public IReadOnlyList<NdArray> Run(IReadOnlyList<NdArray> inputs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var expected = _forward.GetParameters().Length;
        if (inputs.Count != expected)
            throw new ModelBuildException(DiagnosticCodes.ModelInterfaceMismatch,
                $"{TypeName}.forward takes {expected} tensor(s) but {inputs.Count} input(s) are declared", _location);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        object? result;
        try
        {
            result = _forward.Invoke(Module, inputs.Select(a => (object)TorchTensors.ToTensor(a)).ToArray());
        }
        catch (TargetInvocationException e)
        {
            var inner = e.InnerException ?? e;
            throw new ModelBuildException(DiagnosticCodes.RuntimeRejectedModel,
                $"{TypeName}.forward failed: {inner.GetType().Name}: {TorchScriptRunner.FirstLine(inner.Message)}", _location, inner);
        }
        return TorchTensors.FlattenOutputs(result, $"{TypeName}.forward", _location);
    }

    /// <summary>The module tree as ONNX: declared inputs in order, the converter's lowerings for each layer.</summary>
    public ModelProto ToOnnx(ConversionOptions options)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (options.Opset < ConversionOptions.MinOpset || options.Opset > ConversionOptions.MaxOpset)
            throw new ModelBuildException(DiagnosticCodes.UnsupportedModelSource,
                $"exporting TorchSharp modules to ONNX opset {options.Opset} is not supported; use an opset from {ConversionOptions.MinOpset} to " +
                $"{ConversionOptions.MaxOpset}", _location);
        var graph = new GraphBuilder(options.Opset);
        foreach (var i in options.Inputs) graph.Reserve(i.Name);
        foreach (var o in options.OutputNames) graph.Reserve(o);
        var inputs = options.Inputs.Select(i => TorchScriptToOnnx.AddInput(graph, i)).ToArray();
        var ctx = new OnnxExportContext(graph);
        try
        {
            var outputs = ctx.CallAll(Module, inputs);
            return TorchScriptToOnnx.Finish(graph, outputs, options.OutputNames);
        }
        catch (ConversionError e)
        {
            var where = e.File is null ? "" : $" (at {e.File})";
            throw new ModelBuildException(DiagnosticCodes.UnsupportedTorchScript,
                $"cannot export TorchSharp module {TypeName} to ONNX: {e.Reason}{where}", _location, e);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Module.Dispose();
        _context.Unload();
    }

    /// <summary>
    /// The user's assembly and its private dependencies. TorchSharp, ModelBuild and the framework come from the host
    /// (one libtorch binding, one IOnnxExportable type); the assembly is read from bytes so the file is never locked.
    /// </summary>
    private sealed class ModuleLoadContext(string mainPath)
        : AssemblyLoadContext($"modelbuild-torchsharp:{Path.GetFileName(mainPath)}", isCollectible: true)
    {
        private readonly string _directory = Path.GetDirectoryName(Path.GetFullPath(mainPath))!;
        private static readonly HashSet<string> HostAssemblies = ((AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string) ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(Path.GetFileNameWithoutExtension).OfType<string>()
            .ToHashSet(StringComparer.OrdinalIgnoreCase);

        public Assembly LoadMain() => FromBytes(mainPath);

        // Where TorchSharp and ModelBuild.Torch were loaded: the tool loads them into a plugin context, tests into Default.
        private static readonly AssemblyLoadContext Host = GetLoadContext(typeof(TorchSharpModel).Assembly) ?? Default;

        protected override Assembly? Load(AssemblyName name)
        {
            if (name.Name is null) return null;
            if (Host.Assemblies.FirstOrDefault(a => a.GetName().Name == name.Name) is { } shared) return shared;
            if (HostAssemblies.Contains(name.Name) || Default.Assemblies.Any(a => a.GetName().Name == name.Name))
                return null;
            var candidate = Path.Combine(_directory, name.Name + ".dll");
            return File.Exists(candidate) ? FromBytes(candidate) : null;
        }

        private Assembly FromBytes(string path)
        {
            using var stream = new MemoryStream(File.ReadAllBytes(path));
            return LoadFromStream(stream);
        }
    }
}
