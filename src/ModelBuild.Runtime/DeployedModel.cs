using Microsoft.ML.OnnxRuntime;
using OrtType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace ModelBuild.Runtime;

/// <summary>
/// One deployed model in an ONNX Runtime session. <see cref="Run"/> is thread-safe: one instance serves
/// concurrent callers.
/// </summary>
public sealed class DeployedModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _outputNames;

    private DeployedModel(string name, string? variant, string path, InferenceSession session)
    {
        Name = name;
        Variant = variant;
        Path = path;
        _session = session;
        Inputs = session.InputMetadata.Select(kv => ToSpec(kv.Key, kv.Value)).ToArray();
        Outputs = session.OutputMetadata.Select(kv => ToSpec(kv.Key, kv.Value)).ToArray();
        _outputNames = Outputs.Select(o => o.Name).ToArray();
    }

    /// <summary>The model name from deploy.yaml.</summary>
    public string Name { get; }

    /// <summary>The deployed variant (<c>base</c> for the plain export), or null when not known.</summary>
    public string? Variant { get; }

    /// <summary>The .onnx file.</summary>
    public string Path { get; }

    /// <summary>Inputs in the model's order.</summary>
    public IReadOnlyList<TensorSpec> Inputs { get; }

    /// <summary>Outputs in the model's order.</summary>
    public IReadOnlyList<TensorSpec> Outputs { get; }

    /// <summary>Opens an .onnx file directly; <see cref="DeployedModels.Load"/> finds the deployed file by model name.</summary>
    public static DeployedModel Open(string path, string? name = null, string? variant = null, DeployedModelOptions? options = null)
    {
        options ??= new DeployedModelOptions();
        using var sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"model file '{full}' does not exist.", full);
        return new DeployedModel(name ?? System.IO.Path.GetFileNameWithoutExtension(full), variant, full, new InferenceSession(full, sessionOptions));
    }

    /// <summary>The spec of input <paramref name="name"/>, or null.</summary>
    public TensorSpec? Input(string name) => Inputs.FirstOrDefault(i => i.Name == name);

    /// <summary>
    /// Runs the model. Every input must be given once, with the declared element type and a shape that fits;
    /// outputs come back in the model's order.
    /// </summary>
    /// <exception cref="ModelInputException">An input is missing, unknown, or of the wrong type or shape.</exception>
    public IReadOnlyList<ModelTensor> Run(IReadOnlyList<ModelTensor> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Validate(inputs);
        var names = new string[inputs.Count];
        var values = new OrtValue[inputs.Count];
        try
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                names[i] = inputs[i].Name;
                values[i] = ToOrtValue(inputs[i]);
            }
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, names, values, _outputNames);
            var outputs = new ModelTensor[_outputNames.Length];
            for (var i = 0; i < outputs.Length; i++)
                outputs[i] = FromOrtValue(_outputNames[i], results[i]);
            return outputs;
        }
        finally
        {
            foreach (var v in values) v?.Dispose();
        }
    }

    /// <summary>Throws <see cref="ModelInputException"/> with a message naming the first problem with <paramref name="inputs"/>.</summary>
    public void Validate(IReadOnlyList<ModelTensor> inputs)
    {
        foreach (var tensor in inputs)
        {
            var spec = Input(tensor.Name)
                ?? throw new ModelInputException($"model '{Name}' has no input '{tensor.Name}'; its inputs are " +
                    $"{string.Join(", ", Inputs.Select(i => i.Name))}.");
            if (tensor.Type != spec.Type)
                throw new ModelInputException($"input '{tensor.Name}' must be {TensorTypes.Name(spec.Type)}, got {TensorTypes.Name(tensor.Type)}.");
            if (!spec.Accepts(tensor.Shape))
                throw new ModelInputException($"input '{tensor.Name}' must have shape {spec.ShapeText}, got [{string.Join(",", tensor.Shape)}].");
        }
        foreach (var spec in Inputs)
        {
            var count = inputs.Count(t => t.Name == spec.Name);
            if (count == 0) throw new ModelInputException($"input '{spec.Name}' ({spec}) is missing.");
            if (count > 1) throw new ModelInputException($"input '{spec.Name}' is given {count} times.");
        }
    }

    private static OrtValue ToOrtValue(ModelTensor t) =>
        OrtTensors.From(t.Data, t.Shape) ?? throw new ModelInputException($"input '{t.Name}' has an unsupported element type.");

    private ModelTensor FromOrtValue(string name, OrtValue value)
    {
        if (!value.IsTensor) throw new NotSupportedException($"output '{name}' of model '{Name}' is not a tensor.");
        var info = value.GetTensorTypeAndShape();
        Array data = info.ElementDataType switch
        {
            OrtType.Float => value.GetTensorDataAsSpan<float>().ToArray(),
            OrtType.Double => value.GetTensorDataAsSpan<double>().ToArray(),
            OrtType.Int64 => value.GetTensorDataAsSpan<long>().ToArray(),
            OrtType.Int32 => value.GetTensorDataAsSpan<int>().ToArray(),
            OrtType.Int8 => value.GetTensorDataAsSpan<sbyte>().ToArray(),
            OrtType.UInt8 => value.GetTensorDataAsSpan<byte>().ToArray(),
            OrtType.Bool => value.GetTensorDataAsSpan<bool>().ToArray(),
            OrtType.Float16 => Array.ConvertAll(value.GetTensorDataAsSpan<Float16>().ToArray(), h => BitConverter.UInt16BitsToHalf(h.value)),
            var other => throw new NotSupportedException($"output '{name}' of model '{Name}' has element type " +
                $"{other}, which ModelBuild.Runtime does not support."),
        };
        return new ModelTensor(name, data, info.Shape);
    }

    private TensorSpec ToSpec(string name, NodeMetadata meta)
    {
        if (!meta.IsTensor) throw new NotSupportedException($"'{name}' of model '{Name}' is not a tensor.");
        var type = meta.ElementDataType switch
        {
            OrtType.Float => TensorType.Float32,
            OrtType.Float16 => TensorType.Float16,
            OrtType.Double => TensorType.Float64,
            OrtType.Int64 => TensorType.Int64,
            OrtType.Int32 => TensorType.Int32,
            OrtType.Int8 => TensorType.Int8,
            OrtType.UInt8 => TensorType.UInt8,
            OrtType.Bool => TensorType.Bool,
            var other => throw new NotSupportedException($"'{name}' of model '{Name}' has element type " +
                $"{other}, which ModelBuild.Runtime does not support."),
        };
        var dims = meta.Dimensions.Select(d => d > 0 ? (long)d : -1L).ToArray();
        var symbols = meta.SymbolicDimensions.Select(s => s ?? "").ToArray();
        return new TensorSpec(name, type, dims, symbols);
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
