using Microsoft.ML.OnnxRuntime;
using ModelBuild.Diagnostics;
using Onnx;
using OrtType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace ModelBuild.Onnx;

/// <summary>
/// Element types of every tensor, inferred by ONNX Runtime itself: a copy of the model lists every node output as a
/// graph output, and the session's output metadata (typed at load, nothing is run) says what each one holds.
/// </summary>
public static class TensorTypeInference
{
    public static Dictionary<string, int> Infer(ModelProto model, SourceLocation location)
    {
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in model.Graph.Initializer) types[t.Name] = t.DataType;
        foreach (var v in model.Graph.Input.Concat(model.Graph.Output).Concat(model.Graph.ValueInfo))
            if (v.Type?.TensorType is { } tt && tt.ElemType != 0) types[v.Name] = tt.ElemType;

        var copy = model.Clone();
        var listed = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var node in copy.Graph.Node)
            foreach (var o in node.Output)
                if (o.Length > 0 && listed.Add(o)) copy.Graph.Output.Add(new ValueInfoProto { Name = o });
        var path = Path.Combine(Path.GetTempPath(), $"modelbuild-types-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, OnnxModelFile.Serialize(copy));
            using var options = OrtSessionFactory.CreateOptions(1, GraphOptimizationLevel.ORT_DISABLE_ALL);
            using var session = OrtSessionFactory.Open(path, options, location);
            foreach (var (name, meta) in session.OutputMetadata)
                if (meta.IsTensor && ToOnnx(meta.ElementDataType) is int t) types[name] = t;
        }
        finally
        {
            File.Delete(path);
        }
        return types;
    }

    private static int? ToOnnx(OrtType t) => t switch
    {
        OrtType.Float => TensorData.Float,
        OrtType.Float16 => TensorData.Float16,
        OrtType.Double => TensorData.Double,
        OrtType.Int8 => TensorData.Int8,
        OrtType.UInt8 => TensorData.UInt8,
        OrtType.Int32 => TensorData.Int32,
        OrtType.Int64 => TensorData.Int64,
        _ => (int)t,
    };
}
