namespace ModelBuild.Runtime;

/// <summary>
/// A model input or output as the deployed file declares it. <see cref="Dims"/> holds -1 for a dynamic axis,
/// whose name (when the model gives one) is in <see cref="DimNames"/>.
/// </summary>
public sealed record TensorSpec(string Name, TensorType Type, IReadOnlyList<long> Dims, IReadOnlyList<string> DimNames)
{
    /// <summary>The first axis is a batch axis when it is dynamic.</summary>
    public bool HasDynamicBatch => Dims.Count > 0 && Dims[0] < 0;

    /// <summary>Elements per batch row: the product of every axis after the first.</summary>
    public long RowElements => Dims.Skip(1).Aggregate(1L, (a, d) => a * Math.Max(d, 0));

    /// <summary>Whether <paramref name="shape"/> fits: same rank, fixed axes equal, dynamic axes anything ≥ 0.</summary>
    public bool Accepts(IReadOnlyList<long> shape)
    {
        if (shape.Count != Dims.Count) return false;
        for (var i = 0; i < shape.Count; i++)
            if (shape[i] < 0 || (Dims[i] >= 0 && Dims[i] != shape[i])) return false;
        return true;
    }

    /// <summary>The shape as written in messages, e.g. <c>[batch,1,28,28]</c>.</summary>
    public string ShapeText =>
        "[" + string.Join(",", Dims.Select((d, i) => d >= 0 ? d.ToString() : DimNames[i].Length > 0 ? DimNames[i] : "?")) + "]";

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {TensorTypes.Name(Type)}{ShapeText}";
}
