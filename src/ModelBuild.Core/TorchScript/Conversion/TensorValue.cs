using ModelBuild.Data;
using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// A tensor during conversion: its ONNX value name, element type and shape (each dim known or dynamic), and the
/// data when it is a constant (weights, folded values), so lowerings can rearrange weights at conversion time.
/// </summary>
public sealed class TensorValue(string name, TensorElementType type, IReadOnlyList<SymInt> dims, NdArray? constant = null)
{
    /// <summary>The ONNX value holding it; an in-place write gives the tensor a new one (<see cref="Rebind"/>).</summary>
    public string Name { get; private set; } = name;
    public TensorElementType Type { get; } = type;
    public IReadOnlyList<SymInt> Dims { get; } = dims;
    public NdArray? Constant { get; } = constant;
    public int Rank => Dims.Count;

    /// <summary>For a slice of a constant: where it lies in that constant, so in-place writes (fill_, copy_) reach it.</summary>
    public ConstantView? View { get; init; }

    /// <summary>For a slice or select of a computed tensor: the box it reads there, so in-place writes reach that tensor.</summary>
    public ComputedView? Region { get; init; }

    /// <summary>
    /// After an in-place write: every holder of this tensor (locals, lists, the caller's frame) reads the new value,
    /// as PyTorch's aliasing does; values computed from the old one keep it.
    /// </summary>
    internal void Rebind(string name) => Name = name;

    /// <summary>
    /// For a nested tensor made from a padded batch (<c>_nested_tensor_from_mask</c>, what nn.TransformerEncoder does
    /// with a key padding mask in eval): [B, S] bool, true where a token is. The tensor stays padded; encoder layers mask
    /// the padded keys and <c>to_padded_tensor</c> writes the padding value at the padded positions.
    /// </summary>
    public TensorValue? Valid { get; init; }

    /// <summary>Made by torch.zeros: lets RNN lowerings drop an all-zero initial state.</summary>
    public bool IsZeros { get; init; }

    public bool IsFloat => Type is TensorElementType.Float32 or TensorElementType.Float16 or TensorElementType.Float64;

    public long[]? StaticShape => Dims.All(d => d.IsKnown) ? Dims.Select(d => d.Value!.Value).ToArray() : null;

    public SymInt Dim(long axis) => Dims[(int)NormalizeAxis(axis, Rank)];

    public static long NormalizeAxis(long axis, int rank) => axis < 0 ? axis + rank : axis;

    public override string ToString() => $"{Name}: {Type}[{string.Join(",", Dims)}]";
}

/// <summary>A dotted name being built up from <c>torch</c>, <c>ops</c> or <c>__torch__</c>: resolved when called.</summary>
public sealed record QualifiedName(string Name)
{
    public QualifiedName Member(string member) => new($"{Name}.{member}");
    public override string ToString() => Name;
}

/// <summary>A tuple value (Python tuple; a NamedTuple has field names); lists are List&lt;object?&gt;.</summary>
public sealed record TupleValue(IReadOnlyList<object?> Items, IReadOnlyList<string>? Names = null);

/// <summary>A method bound to its receiver (<c>(self.conv1).forward</c>, or a free function when Self is null).</summary>
public sealed record BoundMethod(ScriptObject? Self, Syntax.FunctionDef Function);

/// <summary>torch.device(...), a dtype or layout: values the converter carries but does not use.</summary>
public sealed record OpaqueValue(string Description);
