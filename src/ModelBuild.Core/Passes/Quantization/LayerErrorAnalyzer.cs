using ModelBuild.Data;
using ModelBuild.Diagnostics;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>One quantized node's output compared between the float and the quantized model on the same inputs.</summary>
/// <param name="Added">Error this node adds over the worst of its inputs: the per-layer blame used by accuracy-aware mode.</param>
public sealed record LayerError(string Node, string OpType, string Tensor, double Cosine, double RelativeError, double Added);

/// <summary>
/// Per-layer error report: runs the float and the quantized model with each quantized node's output as an extra
/// graph output (both graphs keep the original tensor names) and compares them.
/// </summary>
public static class LayerErrorAnalyzer
{
    public static List<LayerError> Compare(
        ModelProto reference, ModelProto quantized, IReadOnlyList<NodeProto> nodes,
        IReadOnlyList<IReadOnlyDictionary<string, NdArray>> batches, SourceLocation location)
    {
        var tensors = nodes.Select(n => n.Output[0]).Distinct().ToList();
        var a = Gather(reference, tensors, batches, location);
        // In the quantized graph read what the next layer sees: the DequantizeLinear after a tensor's Q
        // (a Relu folded into that Q only clamps there).
        var g = new Onnx.GraphEditor(quantized);
        var seen = tensors.ToDictionary(t => t, t =>
            g.ConsumersOf(t).FirstOrDefault(c => c.OpType == "QuantizeLinear") is { } q
            && g.ConsumersOf(q.Output[0]).FirstOrDefault(c => c.OpType == "DequantizeLinear") is { } dq ? dq.Output[0] : t, StringComparer.Ordinal);
        var gathered = Gather(quantized, seen.Values.ToList(), batches, location);
        var b = tensors.Where(t => gathered.ContainsKey(seen[t])).ToDictionary(t => t, t => gathered[seen[t]], StringComparer.Ordinal);
        var error = new Dictionary<string, double>(StringComparer.Ordinal);
        var result = new List<LayerError>();
        foreach (var node in nodes)
        {
            var t = node.Output[0];
            if (!a.TryGetValue(t, out var x) || !b.TryGetValue(t, out var y) || x.Count != y.Count) continue;
            double dot = 0, nx = 0, ny = 0, diff = 0;
            for (var i = 0; i < x.Count; i++)
            {
                dot += x[i] * y[i]; nx += x[i] * x[i]; ny += y[i] * y[i];
                var d = x[i] - y[i]; diff += d * d;
            }
            var cosine = nx == 0 && ny == 0 ? 1 : dot / Math.Sqrt(Math.Max(nx * ny, 1e-30));
            var rel = Math.Sqrt(diff / Math.Max(nx, 1e-30));
            error[t] = rel;
            var inputs = node.Input.Where(error.ContainsKey).Select(i => error[i]).DefaultIfEmpty(0).Max();
            result.Add(new LayerError(node.Name, node.OpType, t, cosine, rel, Math.Max(0, rel - inputs)));
        }
        return result;
    }

    private static Dictionary<string, List<float>> Gather(ModelProto model, IReadOnlyList<string> tensors,
        IReadOnlyList<IReadOnlyDictionary<string, NdArray>> batches, SourceLocation location)
    {
        var result = new Dictionary<string, List<float>>(StringComparer.Ordinal);
        var wanted = tensors.ToHashSet(StringComparer.Ordinal);
        using var probe = new TensorProbe(model, tensors, location);
        foreach (var batch in batches)
            foreach (var (name, value) in probe.Run(batch))
                if (wanted.Contains(name) && value.Data is float[] f)
                {
                    if (!result.TryGetValue(name, out var list)) result[name] = list = new List<float>();
                    list.AddRange(f);
                }
        return result;
    }
}
