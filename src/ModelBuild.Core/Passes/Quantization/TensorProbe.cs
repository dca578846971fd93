using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using ModelBuild.Execution;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// Reads intermediate tensors by running ONNX Runtime on a copy of the model in which those tensors are extra
/// graph outputs. Basic-level optimization only, so the named tensors survive.
/// </summary>
public sealed class TensorProbe : IDisposable
{
    private readonly string _path;
    private readonly ModelRunner _runner;

    public TensorProbe(ModelProto model, IEnumerable<string> tensors, SourceLocation location)
    {
        var copy = model.Clone();
        var existing = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        // Only tensors this graph computes: a rewrite may have removed some (a Relu folded into its Q).
        var computed = copy.Graph.Node.SelectMany(n => n.Output).ToHashSet(StringComparer.Ordinal);
        foreach (var t in tensors.Distinct())
            if (computed.Contains(t) && existing.Add(t)) copy.Graph.Output.Add(new ValueInfoProto { Name = t });
        _path = Path.Combine(Path.GetTempPath(), $"modelbuild-probe-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(_path, OnnxModelFile.Serialize(copy));
        try
        {
            _runner = new ModelRunner(_path, location, intraOpThreads: 1, Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_BASIC);
        }
        catch
        {
            File.Delete(_path);
            throw;
        }
    }

    public IReadOnlyDictionary<string, NdArray> Run(IReadOnlyDictionary<string, NdArray> inputs) => _runner.Run(inputs);

    public void Dispose()
    {
        _runner.Dispose();
        File.Delete(_path);
    }
}
