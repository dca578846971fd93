namespace ModelBuild.TorchScript.Conversion;

/// <summary>One call of an aten/prim op as the saved code wrote it: typed access to positional or keyword arguments.</summary>
public sealed class OpCall(string op, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs, Emitter emit,
    Interpreter? interpreter = null)
{
    public string Op { get; } = op;
    public IReadOnlyList<object?> Args { get; } = args;
    public IReadOnlyDictionary<string, object?> Kwargs { get; } = kwargs;
    public Emitter E { get; } = emit;
    /// <summary>Null when the call comes from outside a TorchScript archive (TorchSharp module export).</summary>
    public Interpreter? Interpreter { get; } = interpreter;
    public GraphBuilder G => E.G;

    public bool Has(int index, string name) => index < Args.Count || Kwargs.ContainsKey(name);

    public object? Arg(int index, string name, object? fallback = null) =>
        index < Args.Count ? Args[index] : Kwargs.TryGetValue(name, out var v) ? v : fallback;

    public object? Required(int index, string name) =>
        Has(index, name) ? Arg(index, name) : throw new ConversionError($"{Op}: missing argument '{name}'");

    public TensorValue Tensor(int index, string name) => Required(index, name) switch
    {
        TensorValue t => t,
        var other when ScalarMath.IsScalar(other) => E.AsTensor(other, null),
        var other => throw new ConversionError($"{Op}: argument '{name}' must be a tensor, got {Interpreter.Describe(other)}"),
    };

    public TensorValue? OptionalTensor(int index, string name) => Arg(index, name) switch
    {
        null => null,
        TensorValue t => t,
        var other => throw new ConversionError($"{Op}: argument '{name}' must be a tensor or None, got {Interpreter.Describe(other)}"),
    };

    public long Int(int index, string name, long? fallback = null) =>
        Has(index, name) && Arg(index, name) is not null ? ScalarMath.ToLong(Arg(index, name), $"{Op} '{name}'")
        : fallback ?? throw new ConversionError($"{Op}: missing argument '{name}'");

    public double Double(int index, string name, double? fallback = null) =>
        Has(index, name) && Arg(index, name) is not null ? ScalarMath.ToDouble(Arg(index, name), $"{Op} '{name}'")
        : fallback ?? throw new ConversionError($"{Op}: missing argument '{name}'");

    public bool Bool(int index, string name, bool fallback = false) =>
        Has(index, name) && Arg(index, name) is not null ? Interpreter.Truth(ScalarMath.Unwrap(Arg(index, name)), Op) : fallback;

    public string? String(int index, string name, string? fallback = null) => Arg(index, name, fallback) as string ?? fallback;

    /// <summary>An int list argument; a single int is repeated (PyTorch's IntArrayRef convenience).</summary>
    public long[] Ints(int index, string name, long[]? fallback = null, int repeat = 1)
    {
        var v = Arg(index, name);
        if (v is null) return fallback ?? throw new ConversionError($"{Op}: missing argument '{name}'");
        if (ScalarMath.IsInt(v)) return Enumerable.Repeat(ScalarMath.ToLong(v, name), repeat).ToArray();
        return Interpreter.Items(v, $"read '{name}' of {Op} from").Select(x => ScalarMath.ToLong(x, $"{Op} '{name}'")).ToArray();
    }

    /// <summary>A size list that may hold dynamic sizes (view/reshape/zeros shapes).</summary>
    public SymInt[] Sizes(int index, string name)
    {
        var v = Required(index, name);
        if (ScalarMath.IsInt(v) || v is SymInt) return [ScalarMath.ToSym(v, name)];
        return Interpreter.Items(v, $"read '{name}' of {Op} from").Select(x => ScalarMath.ToSym(x, $"{Op} '{name}'")).ToArray();
    }

    public IReadOnlyList<TensorValue> TensorList(int index, string name) =>
        Interpreter.Items(Required(index, name), $"read '{name}' of {Op} from")
            .Select(x => x switch
            {
                TensorValue t => t,
                // NumToTensor's 0-d tensors stay numbers here (sizes keep folding): torch.stack([NumToTensor(size)]).
                _ when ScalarMath.IsScalar(x) => E.AsTensor(x, null),
                _ => throw new ConversionError($"{Op}: '{name}' must hold tensors, got {Interpreter.Describe(x)}"),
            }).ToArray();

    public ConversionError Unsupported(string detail) => ConversionError.Unsupported(Op, detail);
}
