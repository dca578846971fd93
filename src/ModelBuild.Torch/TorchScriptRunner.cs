using ModelBuild.Data;
using ModelBuild.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelBuild.Torch;

/// <summary>
/// Runs a TorchScript model with libtorch itself (torch.jit.load through TorchSharp): the reference that converted
/// ONNX models are compared against. Single-threaded, so results and timings are stable on busy machines.
/// </summary>
public sealed class TorchScriptRunner : IDisposable
{
    private readonly jit.ScriptModule _module;
    private readonly string _path;
    private readonly SourceLocation? _location;

    private TorchScriptRunner(jit.ScriptModule module, string path, SourceLocation? location)
    {
        _module = module;
        _path = path;
        _location = location;
    }

    /// <summary>Loads <paramref name="path"/> (after <see cref="TorchNativeLoader.EnsureLoaded"/>) in eval mode.</summary>
    public static TorchScriptRunner Load(string path, SourceLocation? location = null)
    {
        TorchNativeLoader.EnsureLoaded();
        torch.set_num_threads(1);
        if (!File.Exists(path))
            throw new ModelBuildException(DiagnosticCodes.ModelUnreadable, $"TorchScript model not found: {path}", location);
        try
        {
            var module = jit.load(path);
            module.eval();
            return new TorchScriptRunner(module, path, location);
        }
        catch (Exception e) when (e is not ModelBuildException)
        {
            throw new ModelBuildException(DiagnosticCodes.RuntimeRejectedModel,
                $"libtorch could not load {path}: {FirstLine(e.Message)}", location, e);
        }
    }

    internal jit.ScriptModule Module => _module;

    /// <summary>
    /// Calls forward. Arguments are <see cref="NdArray"/> (become tensors) or bool/long/double (TorchScript scalars,
    /// e.g. a <c>use_dropout: bool</c> flag). Returns the output tensors, tuples/lists flattened in order.
    /// </summary>
    public IReadOnlyList<NdArray> Run(params object[] inputs)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var args = inputs.Select(ToArgument).ToArray();
        object result;
        try
        {
            result = _module.call(args);
        }
        catch (Exception e) when (e is not ModelBuildException)
        {
            throw new ModelBuildException(DiagnosticCodes.RuntimeRejectedModel,
                $"libtorch failed to run {_path}: {Reason(e.Message)} " +
                $"(are the declared inputs' shapes and dtypes what forward expects?)", _location, e);
        }
        return TorchTensors.FlattenOutputs(result, _path, _location);
    }

    private static object ToArgument(object input) => input switch
    {
        NdArray a => TorchTensors.ToTensor(a),
        bool or long or double => input,
        int i => (long)i,
        float f => (double)f,
        _ => throw new ArgumentException($"unsupported TorchScript argument type {input.GetType().Name}"),
    };

    /// <summary>
    /// What went wrong, from a libtorch error: the interpreter's errors open with a generic sentence and a
    /// TorchScript traceback and end with the actual error ("RuntimeError: Given groups=1, … expected input[…] to
    /// have 1 channels, but got 3"), which is the line worth showing.
    /// </summary>
    internal static string Reason(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var error = lines.LastOrDefault(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\w*(Error|Exception):\s"));
        if (error is null) return FirstLine(message);
        return error.Length > 400 ? error[..400] + "…" : error;
    }

    internal static string FirstLine(string message)
    {
        var line = message.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? message;
        return line.Length > 400 ? line[..400] + "…" : line;
    }

    public void Dispose() => _module.Dispose();
}
