using ModelBuild.Data;
using ModelBuild.Onnx;

namespace ModelBuild.TorchScript;

// The shape of a TorchScript archive (torch.jit.save) once read safely. TorchScriptReader fills these types;
// the TorchScript → ONNX converter consumes them. Nothing here executes anything from the archive.

/// <summary>A whole archive: the module tree from data.pkl, the constants table, and the TorchScript source files.</summary>
public sealed class TorchScriptArchive
{
    /// <summary>Path of the .pt file, for messages.</summary>
    public required string Path { get; init; }

    /// <summary>The archive's root folder name inside the zip (e.g. "archive" or the model's name).</summary>
    public required string RootFolder { get; init; }

    /// <summary>The top-level module (what torch.jit.load returns).</summary>
    public required ScriptObject Root { get; init; }

    /// <summary>constants.pkl: values the code refers to as <c>CONSTANTS.c0</c>, <c>CONSTANTS.c1</c>, …</summary>
    public required IReadOnlyList<object?> Constants { get; init; }

    /// <summary>
    /// Source files under <c>code/</c>, keyed by their path relative to <c>code/</c> with '/' separators
    /// (e.g. "__torch__/torch/nn/modules/conv.py" or "__torch__.py").
    /// </summary>
    public required IReadOnlyDictionary<string, string> CodeFiles { get; init; }

    /// <summary>The producer's format version (the archive's <c>version</c> entry).</summary>
    public int FormatVersion { get; init; }
}

/// <summary>
/// An object from data.pkl: a script module or class instance. <see cref="TypeName"/> is its qualified class name
/// as the code files define it (e.g. "__torch__.torch.nn.modules.conv.Conv2d", "__torch__.Net").
/// Attribute values are: ScriptObject (submodules), TorchTensor, bool, long, double, string, null,
/// IReadOnlyList&lt;object?&gt; (lists and tuples), IReadOnlyDictionary&lt;object, object?&gt; (dicts).
/// </summary>
public sealed class ScriptObject
{
    public required string TypeName { get; init; }
    public required IReadOnlyDictionary<string, object?> Attributes { get; init; }

    public override string ToString() => TypeName;
}

/// <summary>A tensor from the archive, materialized contiguous (strides and storage offset already applied).</summary>
public sealed class TorchTensor
{
    public required TensorElementType ElementType { get; init; }
    public required long[] Shape { get; init; }
    public required NdArray Values { get; init; }
    public bool RequiresGrad { get; init; }

    public override string ToString() => $"tensor {ElementType}[{string.Join(",", Shape)}]";
}
