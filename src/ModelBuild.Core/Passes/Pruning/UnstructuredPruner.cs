using Google.Protobuf;
using System.Runtime.InteropServices;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Pruning;

/// <summary>One weight tensor after unstructured pruning: exactly <see cref="Zeros"/> of <see cref="Count"/> are zero.</summary>
public sealed record SparsityLayer(string Node, string OpType, string Tensor, long Count, long Zeros)
{
    public double Sparsity => Count == 0 ? 0 : (double)Zeros / Count;
}

/// <summary>
/// Zeroes single weights of Conv, Gemm and MatMul (PyTorch's l1_unstructured, random_unstructured and
/// global_unstructured): per layer (or over all layers at once for global) exactly round(amount·n) weights become
/// zero, the smallest |w| first, ties to the lower index. Weights that are already zero count as pruned, so a
/// schedule of growing amounts is cumulative. The tensors stay dense: size only drops once stored compressed.
/// </summary>
public static class UnstructuredPruner
{
    private static readonly HashSet<string> WeightOps = new(StringComparer.Ordinal) { "Conv", "Gemm", "MatMul", "ConvTranspose" };

    public static IReadOnlyList<SparsityLayer> Prune(GraphEditor g, PruneMethod method, double amount, int seed, SourceLocation location)
    {
        g.PromoteConstants();
        var weights = Weights(g);
        if (weights.Count == 0)
            throw new ModelBuildException(DiagnosticCodes.PassFailed,
                "unstructured pruning found no Conv, Gemm or MatMul with a constant float weight to prune", location);
        var values = weights.Select(w => TensorData.ToFloats(w.Tensor)).ToList();

        if (method == PruneMethod.GlobalUnstructured)
        {
            var total = values.Sum(v => (long)v.Length);
            var k = (long)Math.Round(amount * total, MidpointRounding.ToEven);
            var order = values.SelectMany((v, t) => v.Select((x, i) => (Abs: Math.Abs(x), T: t, I: i)))
                .OrderBy(e => e.Abs).ThenBy(e => e.T).ThenBy(e => e.I).Take((int)k);
            foreach (var e in order) values[e.T][e.I] = 0;
        }
        else
        {
            for (var t = 0; t < values.Count; t++)
            {
                var v = values[t];
                var k = (int)Math.Round(amount * v.Length, MidpointRounding.ToEven);
                IEnumerable<int> chosen = method == PruneMethod.RandomUnstructured
                    ? RandomOrder(v, new Random(seed ^ StableHash(weights[t].Tensor.Name)))
                    : Enumerable.Range(0, v.Length).OrderBy(i => Math.Abs(v[i])).ThenBy(i => i);
                foreach (var i in chosen.Take(k).ToList()) v[i] = 0;
            }
        }

        var layers = new List<SparsityLayer>();
        for (var t = 0; t < weights.Count; t++)
        {
            var tensor = weights[t].Tensor;
            tensor.FloatData.Clear();
            tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values[t].AsSpan()));
            layers.Add(new SparsityLayer(weights[t].Node.Name, weights[t].Node.OpType, tensor.Name, values[t].Length, values[t].Count(x => x == 0)));
        }
        return layers;
    }

    /// <summary>The prunable weights: float initializers of rank ≥ 2 in a weight slot, each once.</summary>
    public static List<(NodeProto Node, TensorProto Tensor)> Weights(GraphEditor g)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<(NodeProto, TensorProto)>();
        foreach (var node in g.Graph.Node)
        {
            if (!WeightOps.Contains(node.OpType) || node.Domain is not ("" or "ai.onnx") || node.Input.Count < 2) continue;
            if (!g.Initializers.TryGetValue(node.Input[1], out var t) || t.DataType != TensorData.Float || t.Dims.Count < 2) continue;
            if (seen.Add(t.Name)) result.Add((node, t));
        }
        return result;
    }

    /// <summary>Zeros first (already pruned), then the rest shuffled: growing amounts keep earlier choices.</summary>
    private static IEnumerable<int> RandomOrder(float[] v, Random rng)
    {
        var rest = Enumerable.Range(0, v.Length).Where(i => v[i] != 0).ToArray();
        rng.Shuffle(rest);
        return Enumerable.Range(0, v.Length).Where(i => v[i] == 0).Concat(rest);
    }

    private static int StableHash(string s) => s.Aggregate(17, (h, c) => unchecked(h * 31 + c));
}
