using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Execution;
using ModelBuild.IO;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Targets.Tflite;

/// <summary>A TFLite input or output: its ONNX name, its tensor in the file, and how the file's axes map to ONNX's.</summary>
/// <param name="Perm">File axis i holds ONNX axis Perm[i] (NHWC images: [0, 2, 3, 1]).</param>
public sealed record TfliteIoTensor(string Name, int[] Shape, TfliteType Type, TfliteQuantization? Quantization, int[] Perm);

/// <summary>What was written: the file's interface and how much of it runs in int8.</summary>
public sealed record TfliteExport(string Path, long SizeBytes, IReadOnlyList<TfliteIoTensor> Inputs, IReadOnlyList<TfliteIoTensor> Outputs,
    int QuantizedOps, int FloatOps);

/// <summary>
/// Writes the TFLite file of an ONNX artifact: ONNX Runtime runs the model once at batch 1 to fix every shape and fold
/// what is constant, <see cref="TfliteConverter"/> rewrites the graph, <see cref="TfliteSerializer"/> writes the flatbuffer.
/// The file has batch 1: TFLite apps run one sample at a time, and fixed shapes are what mobile delegates want.
/// </summary>
public static class TfliteExporter
{
    /// <param name="sample">One sample of the model's inputs (batch 1), e.g. the first evaluation sample; generated when null.
    /// Real ids matter: generated token ids may index past a small embedding table.</param>
    public static TfliteExport Write(string onnxPath, string tflitePath, TfliteSpec spec, SourceLocation location,
        IReadOnlyDictionary<string, NdArray>? sample = null)
    {
        var converter = Convert(OnnxModelFile.Load(onnxPath, location), spec, location, sample);
        var bytes = TfliteSerializer.Serialize(converter.Model);
        AtomicFile.WriteAllBytes(tflitePath, bytes);
        TfliteIoTensor Io((string Name, int Tensor) entry)
        {
            var tensor = converter.Model.Tensors[entry.Tensor];
            var perm = tensor.Shape.Length == 4 && spec.Layout == TfliteLayout.Nhwc ? new[] { 0, 2, 3, 1 } : Enumerable.Range(0, tensor.Shape.Length).ToArray();
            return new TfliteIoTensor(entry.Name, tensor.Shape, tensor.Type, tensor.Quantization, perm);
        }
        return new TfliteExport(tflitePath, bytes.Length, converter.Model.Inputs.Select(Io).ToList(), converter.Model.Outputs.Select(Io).ToList(),
            converter.QuantizedOps, converter.FloatOps);
    }

    internal static TfliteConverter Convert(ModelProto model, TfliteSpec spec, SourceLocation location,
        IReadOnlyDictionary<string, NdArray>? sample = null) =>
        TfliteConverter.Convert(model, Probe(model, location, sample), spec, location);

    /// <summary>Every tensor's value at batch 1 on generated inputs (initializers included): the shapes and the constants.</summary>
    private static Dictionary<string, NdArray> Probe(ModelProto model, SourceLocation location, IReadOnlyDictionary<string, NdArray>? sample)
    {
        var inputs = sample ?? SyntheticInputs.Generate(ModelInterfaceReader.Read(model, location).Inputs, batch: 1, seed: 0);
        var copy = model.Clone();
        var outputs = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var node in copy.Graph.Node)
            foreach (var o in node.Output.Where(o => o.Length > 0 && outputs.Add(o)))
                copy.Graph.Output.Add(new ValueInfoProto { Name = o });
        var path = Path.Combine(Path.GetTempPath(), $"modelbuild-tflite-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, OnnxModelFile.Serialize(copy));
            // No graph optimizations: every tensor the converter will look up must survive as it is.
            using var runner = new ModelRunner(path, location, intraOpThreads: 1, GraphOptimizationLevel.ORT_DISABLE_ALL);
            var values = new Dictionary<string, NdArray>(runner.Run(inputs), StringComparer.Ordinal);
            foreach (var (name, value) in inputs) values[name] = value;
            foreach (var initializer in model.Graph.Initializer) values[initializer.Name] = ToArray(initializer, location);
            return values;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static NdArray ToArray(TensorProto t, SourceLocation location)
    {
        var shape = t.Dims.ToArray();
        Array RawOr<T>(Func<T[]> typed) where T : struct =>
            t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, T>(t.RawData.Span).ToArray() : typed();
        return t.DataType switch
        {
            TensorData.Float or TensorData.Float16 or TensorData.Double => new NdArray(TensorElementType.Float32, shape, TensorData.ToFloats(t)),
            TensorData.Int8 => new NdArray(TensorElementType.Int8, shape, RawOr(() => t.Int32Data.Select(v => (sbyte)v).ToArray())),
            TensorData.UInt8 => new NdArray(TensorElementType.UInt8, shape, RawOr(() => t.Int32Data.Select(v => (byte)v).ToArray())),
            TensorData.Int32 => new NdArray(TensorElementType.Int32, shape, RawOr(() => t.Int32Data.ToArray())),
            TensorData.Int64 => new NdArray(TensorElementType.Int64, shape, TensorData.ToInt64s(t)),
            TensorData.Bool => new NdArray(TensorElementType.Bool, shape, RawOr(() => t.Int32Data.Select(v => v != 0).ToArray())),
            _ => throw new ModelBuildException(DiagnosticCodes.TfliteUnsupported,
                $"TFLite export: initializer '{t.Name}' has ONNX data type {t.DataType}, which the writer does not read", location),
        };
    }
}
