namespace ModelBuild.Data;

public static class NdArrayConcat
{
    /// <summary>Joins arrays of equal trailing shape along axis 0 (batch outputs back into one result).</summary>
    public static NdArray AlongFirstAxis(IReadOnlyList<NdArray> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("Nothing to concatenate.", nameof(parts));
        if (parts.Count == 1) return parts[0];
        var first = parts[0];
        var trailing = first.Shape.Skip(1).ToArray();
        foreach (var p in parts)
            if (p.ElementType != first.ElementType || !p.Shape.Skip(1).SequenceEqual(trailing))
                throw new ArgumentException($"Cannot concatenate {p} with {first}.");
        var total = parts.Sum(p => p.Length);
        var data = Array.CreateInstance(first.Data.GetType().GetElementType()!, total);
        long offset = 0;
        foreach (var p in parts)
        {
            Array.Copy(p.Data, 0, data, offset, p.Length);
            offset += p.Length;
        }
        var shape = first.Shape.ToArray();
        shape[0] = parts.Sum(p => p.Shape[0]);
        return new NdArray(first.ElementType, shape, data);
    }
}
