namespace ModelBuild.Runtime;

/// <summary>A named tensor: row-major data in a plain .NET array plus its shape.</summary>
public sealed class ModelTensor
{
    /// <summary>A tensor over <paramref name="data"/> (not copied).</summary>
    /// <exception cref="ArgumentException">The array type is not a tensor type, or its length does not match the shape.</exception>
    public ModelTensor(string name, Array data, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        Type = TensorTypes.Of(data) ?? throw new ArgumentException($"'{data.GetType().Name}' is not a supported tensor element array.", nameof(data));
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}' has a negative dimension in shape [{string.Join(",", shape)}].", nameof(shape));
            count = checked(count * d);
        }
        if (count != data.Length)
            throw new ArgumentException($"tensor '{name}' has {data.Length} elements but shape [{string.Join(",", shape)}] needs {count}.",
                nameof(data));
        Name = name;
        Data = data;
        Shape = shape.ToArray();
    }

    /// <summary>The input or output name.</summary>
    public string Name { get; }

    /// <summary>The element type, from the array's type.</summary>
    public TensorType Type { get; }

    /// <summary>Row-major elements.</summary>
    public Array Data { get; }

    /// <summary>One entry per axis.</summary>
    public long[] Shape { get; }

    /// <summary>The data as <typeparamref name="T"/>[].</summary>
    /// <exception cref="InvalidCastException">The tensor holds another element type.</exception>
    public T[] As<T>() => Data as T[] ?? throw new InvalidCastException($"tensor '{Name}' holds {TensorTypes.Name(Type)}, not {typeof(T).Name}.");

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {TensorTypes.Name(Type)}[{string.Join(",", Shape)}]";
}
