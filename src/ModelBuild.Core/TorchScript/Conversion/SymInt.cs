namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// An integer the converter reasons about: a known value (folded at conversion time), or a size known only at run
/// time (a named dynamic axis such as the batch), which the graph computes from a tensor's shape when needed.
/// </summary>
public sealed class SymInt
{
    private SymInt(long? value, string? symbol, string? sourceTensor, int axis)
    {
        Value = value;
        Symbol = symbol;
        SourceTensor = sourceTensor;
        Axis = axis;
    }

    public long? Value { get; }
    public string? Symbol { get; }

    /// <summary>For a dynamic size: the tensor whose shape holds it, and the axis.</summary>
    public string? SourceTensor { get; }
    public int Axis { get; }

    /// <summary>The ONNX name of a 1-D int64 tensor [1] holding the value, once emitted.</summary>
    public string? Materialized { get; set; }

    public bool IsKnown => Value.HasValue;

    public static SymInt Of(long value) => new(value, null, null, 0);
    public static SymInt Dynamic(string symbol, string sourceTensor, int axis) => new(null, symbol, sourceTensor, axis);
    public static SymInt Computed(string symbol, string materialized) => new(null, symbol, null, 0) { Materialized = materialized };

    /// <summary>Same size for sure: equal values, or the same dynamic symbol.</summary>
    public bool SameAs(SymInt other) =>
        ReferenceEquals(this, other) || (IsKnown ? other.Value == Value : Symbol is not null && other.Symbol == Symbol);

    public override string ToString() => Value?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? Symbol ?? "?";
}
