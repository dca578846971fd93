namespace ModelBuild.Onnx;

/// <summary>The element types ModelBuild reads and writes (the manifest declares the first six).</summary>
public enum TensorElementType
{
    Float32,
    Float16,
    Int64,
    Int32,
    UInt8,
    Bool,

    // Not declarable in a manifest (schema 1), but models may use them.
    Float64,
    Int8,
}

/// <summary>A dimension: a fixed size, or a named dynamic axis (<c>batch</c>).</summary>
public readonly record struct Dimension(long? Size, string? Symbol)
{
    public static Dimension Fixed(long size) => new(size, null);
    public static Dimension Dynamic(string symbol) => new(null, symbol);
    public bool IsDynamic => Size is null;
    public override string ToString() => Size?.ToString() ?? Symbol ?? "?";
}
