using Microsoft.ML.OnnxRuntime;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ElementType = ModelBuild.Onnx.TensorElementType;
using OrtElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using ModelBuild.Onnx;
using ModelBuild.Runtime;

namespace ModelBuild.Execution;

/// <summary>Runs one ONNX model in ONNX Runtime on <see cref="NdArray"/> inputs.</summary>
public sealed class ModelRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly SourceLocation _location;
    private readonly Dictionary<string, ElementType> _floatInputs = new(StringComparer.Ordinal);

    public ModelRunner(string modelPath, SourceLocation location, int intraOpThreads = 1,
        GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL)
    {
        _location = location;
        using var options = OrtSessionFactory.CreateOptions(intraOpThreads, level);
        _session = OrtSessionFactory.Open(modelPath, options, location);
        OutputNames = _session.OutputNames.ToArray();
        foreach (var (name, metadata) in _session.InputMetadata)
            if (metadata.IsTensor && metadata.ElementDataType is OrtElementType.Float or OrtElementType.Float16)
                _floatInputs[name] = metadata.ElementDataType == OrtElementType.Float ? ElementType.Float32 : ElementType.Float16;
    }

    /// <summary>
    /// The inputs in this model's own float types. Evaluation data and synthetic inputs follow the source model's
    /// interface, but an fp16 artifact built without keep_io_types takes float16 where the source takes float32.
    /// Other element types pass as they are (ONNX Runtime refuses a real mismatch).
    /// </summary>
    public IReadOnlyDictionary<string, NdArray> Adapt(IReadOnlyDictionary<string, NdArray> inputs)
    {
        if (!inputs.Any(NeedsConversion)) return inputs;
        return inputs.ToDictionary(kv => kv.Key, kv => NeedsConversion(kv)
            ? kv.Value.ToFloatType(_floatInputs[kv.Key])
            : kv.Value, StringComparer.Ordinal);
    }

    private bool NeedsConversion(KeyValuePair<string, NdArray> input) =>
        _floatInputs.TryGetValue(input.Key, out var wanted) && input.Value.ElementType != wanted
        && input.Value.ElementType is ElementType.Float32 or ElementType.Float16;

    public string ModelPath => _session.ModelMetadata.GraphName;
    public IReadOnlyList<string> OutputNames { get; }

    public IReadOnlyDictionary<string, NdArray> Run(IReadOnlyDictionary<string, NdArray> inputs)
    {
        inputs = Adapt(inputs);
        var names = inputs.Keys.ToArray();
        var values = new OrtValue[names.Length];
        try
        {
            for (var i = 0; i < names.Length; i++)
                values[i] = ToOrtValue(inputs[names[i]]);
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, names, values, OutputNames);
            var outputs = new Dictionary<string, NdArray>(StringComparer.Ordinal);
            for (var i = 0; i < OutputNames.Count; i++)
                outputs[OutputNames[i]] = FromOrtValue(results[i], OutputNames[i]);
            return outputs;
        }
        catch (OnnxRuntimeException e)
        {
            var shapes = string.Join(", ", inputs.Select(kv => $"{kv.Key}={kv.Value}"));
            throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                $"ONNX Runtime failed to run the model on inputs {shapes}: {OrtSessionFactory.FirstLine(e.Message)}", _location, e);
        }
        finally
        {
            foreach (var v in values) v?.Dispose();
        }
    }

    /// <summary>Runs without converting outputs: the inner loop of latency measurement.</summary>
    public void RunDiscardingOutputs(string[] names, OrtValue[] values)
    {
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, names, values, OutputNames);
    }

    public static OrtValue ToOrtValue(NdArray array) =>
        OrtTensors.From(array.Data, array.Shape) ?? throw new NotSupportedException($"Cannot feed {array.Data.GetType().Name} to ONNX Runtime.");

    private NdArray FromOrtValue(OrtValue value, string name)
    {
        if (!value.IsTensor)
            throw new ModelBuildException(DiagnosticCodes.ModelInvalid, $"output '{name}' is not a tensor; only tensor outputs are supported",
                _location);
        var info = value.GetTensorTypeAndShape();
        var shape = info.Shape;
        return info.ElementDataType switch
        {
            OrtElementType.Float => new NdArray(ElementType.Float32, shape, value.GetTensorDataAsSpan<float>().ToArray()),
            OrtElementType.Double => new NdArray(ElementType.Float64, shape, value.GetTensorDataAsSpan<double>().ToArray()),
            OrtElementType.Int64 => new NdArray(ElementType.Int64, shape, value.GetTensorDataAsSpan<long>().ToArray()),
            OrtElementType.Int32 => new NdArray(ElementType.Int32, shape, value.GetTensorDataAsSpan<int>().ToArray()),
            OrtElementType.UInt8 => new NdArray(ElementType.UInt8, shape, value.GetTensorDataAsSpan<byte>().ToArray()),
            OrtElementType.Int8 => new NdArray(ElementType.Int8, shape, value.GetTensorDataAsSpan<sbyte>().ToArray()),
            OrtElementType.Bool => new NdArray(ElementType.Bool, shape, value.GetTensorDataAsSpan<bool>().ToArray()),
            OrtElementType.Float16 => new NdArray(ElementType.Float16, shape,
                value.GetTensorDataAsSpan<Float16>().ToArray().Select(h => BitConverter.UInt16BitsToHalf(h.value)).ToArray()),
            var other => throw new ModelBuildException(DiagnosticCodes.ModelInvalid, $"output '{name}' has element type " +
                $"{other}, which ModelBuild does not support", _location),
        };
    }

    public void Dispose() => _session.Dispose();
}
