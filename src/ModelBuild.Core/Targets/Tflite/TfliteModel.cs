namespace ModelBuild.Targets.Tflite;

/// <summary>Per-tensor or per-channel affine quantization: real = scale × (q − zero_point).</summary>
/// <param name="Dimension">The axis the scales run along when there is more than one.</param>
public sealed record TfliteQuantization(float[] Scale, long[] ZeroPoint, int Dimension = 0)
{
    public static TfliteQuantization PerTensor(float scale, long zeroPoint) => new([scale], [zeroPoint]);

    public bool SameAs(TfliteQuantization? other) =>
        other is not null && Dimension == other.Dimension && Scale.SequenceEqual(other.Scale) && ZeroPoint.SequenceEqual(other.ZeroPoint);
}

/// <summary>One tensor of the subgraph: an activation (no data) or a constant (little-endian bytes).</summary>
public sealed class TfliteTensor
{
    public required int Index { get; init; }
    public required string Name { get; set; }
    public required int[] Shape { get; set; }
    public required TfliteType Type { get; set; }
    public byte[]? Data { get; init; }
    public TfliteQuantization? Quantization { get; set; }
    public bool IsConstant => Data is not null;
}

/// <summary>One operator: a builtin, its input and output tensor indices (−1 for an omitted optional input), its options.</summary>
public sealed record TfliteOperator(TfliteOp Op, int[] Inputs, int[] Outputs, TfliteOptions? Options, int Version = 1);

/// <summary>
/// A single-subgraph TFLite model as the converter builds it; <see cref="TfliteSerializer"/> writes it as a flatbuffer.
/// Tensor names and the <c>serving_default</c> signature carry the ONNX model's input and output names.
/// </summary>
public sealed class TfliteModel
{
    public const string SignatureKey = "serving_default";

    private readonly Dictionary<string, int> _names = new(StringComparer.Ordinal);

    public List<TfliteTensor> Tensors { get; } = [];
    public List<TfliteOperator> Operators { get; } = [];
    public List<(string Name, int Tensor)> Inputs { get; } = [];
    public List<(string Name, int Tensor)> Outputs { get; } = [];
    public string Description { get; init; } = "ModelBuild";

    /// <summary>Adds a tensor; a name already taken gets a numeric suffix (TFLite wants unique names only for readability).</summary>
    public TfliteTensor AddTensor(string name, int[] shape, TfliteType type, byte[]? data = null, TfliteQuantization? quantization = null)
    {
        var unique = name;
        if (_names.TryGetValue(name, out var count))
        {
            do unique = $"{name}_{++count}"; while (_names.ContainsKey(unique));
            _names[name] = count;
        }
        _names[unique] = 0;
        var tensor = new TfliteTensor
        {
            Index = Tensors.Count, Name = unique, Shape = shape, Type = type, Data = data, Quantization = quantization,
        };
        Tensors.Add(tensor);
        return tensor;
    }

    public void AddOperator(TfliteOp op, int[] inputs, int[] outputs, TfliteOptions? options = null, int version = 1) =>
        Operators.Add(new TfliteOperator(op, inputs, outputs, options, version));
}
