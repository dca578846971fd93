using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// Outlier channels kept in float before dynamic int8 (the LLM.int8() decomposition, Dettmers et al. 2022). Dynamic
/// int8 quantizes a MatMul's activation with one scale for the whole tensor, so a few channels with large values (a
/// transformer's FFN input after GELU: MiniLM's reach 13–30 where the median channel stays near 1) leave every other
/// channel a handful of steps. X·W = X_in·W + X_out·W_out, where X_in is X with the outlier channels zeroed (quantized
/// as before) and X_out those channels alone, multiplied in float by W's matching rows: a Mul, a Gather, a small MatMul
/// and an Add per activation. A channel is an outlier when its largest |value| on the probe samples is at least
/// <see cref="OutlierRatio"/> times the median channel's; at most <see cref="MaxFraction"/> of the channels may be, else
/// the tensor is left as it is (spread, not outliers).
/// </summary>
public static class OutlierChannels
{
    public const double OutlierRatio = 6;
    public const double MaxFraction = 1.0 / 32;

    /// <summary>What the split changed: the model, the float MatMuls it added (not to be quantized), a note per tensor.</summary>
    public sealed record Split(ModelProto Model, IReadOnlyList<string> FloatNodes, IReadOnlyList<string> Notes);

    public static Split Apply(ModelProto model, IReadOnlyCollection<NodeProto> candidates,
        IReadOnlyList<IReadOnlyDictionary<string, NdArray>> samples, SourceLocation location)
    {
        var g = new GraphEditor(model.Clone());
        var names = candidates.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var readers = g.Graph.Node
            .Where(n => n.OpType == "MatMul" && n.Domain is "" or "ai.onnx" && names.Contains(n.Name) && !g.IsInitializer(n.Input[0])
                        && g.Initializers.TryGetValue(n.Input[1], out var w) && w.DataType == TensorData.Float && w.Dims.Count == 2)
            .GroupBy(n => n.Input[0], StringComparer.Ordinal).ToDictionary(x => x.Key, x => x.ToList(), StringComparer.Ordinal);
        if (readers.Count == 0 || samples.Count == 0) return new Split(model, [], []);

        var maxima = ChannelMaxima(model, readers.Keys, samples, location);
        var floatNodes = new List<string>();
        var notes = new List<string>();
        foreach (var (tensor, matmuls) in readers)
        {
            if (!maxima.TryGetValue(tensor, out var amax)) continue;
            var k = amax.Length;
            if (matmuls.Any(m => g.Initializers[m.Input[1]].Dims[0] != k)) continue;
            var median = amax.Order().ElementAt(k / 2);
            if (median <= 0) continue;
            var outliers = Enumerable.Range(0, k).Where(j => amax[j] >= OutlierRatio * median).ToArray();
            if (outliers.Length == 0 || outliers.Length > Math.Max(1, (int)(k * MaxFraction))) continue;

            var mask = Enumerable.Repeat(1f, k).ToArray();
            foreach (var j in outliers) mask[j] = 0;
            var maskName = g.AddInitializer(TensorData.FromFloats(tensor + "_inlier_mask", [k], mask)).Name;
            var inliers = g.UniqueName(tensor + "_inliers");
            g.AddNode("Mul", [tensor, maskName], [inliers], tensor + "_Inliers");
            var index = g.AddInitializer(TensorData.FromInt64s(tensor + "_outlier_index", [outliers.Length], outliers.Select(j => (long)j).ToArray())).Name;
            var picked = g.UniqueName(tensor + "_outliers");
            var gather = g.AddNode("Gather", [tensor, index], [picked], tensor + "_Outliers");
            gather.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 });
            foreach (var m in matmuls)
            {
                var weight = g.Initializers[m.Input[1]];
                var n = (int)weight.Dims[1];
                var w = TensorData.ToFloats(weight);
                var rows = new float[outliers.Length * n];
                for (var r = 0; r < outliers.Length; r++) Array.Copy(w, outliers[r] * n, rows, r * n, n);
                var rowsName = g.AddInitializer(TensorData.FromFloats(weight.Name + "_outlier_rows", [outliers.Length, n], rows)).Name;
                var output = m.Output[0];
                var main = g.UniqueName(output + "_inlier_part");
                var side = g.UniqueName(output + "_outlier_part");
                var sideNode = g.AddNode("MatMul", [picked, rowsName], [side], m.Name + "_outliers");
                floatNodes.Add(sideNode.Name);
                m.Input[0] = inliers;
                m.Output[0] = main;
                g.AddNode("Add", [main, side], [output], m.Name + "_join");
            }
            notes.Add($"kept {outliers.Length} of {k} channel(s) of '{tensor}' in float before {string.Join(", ", matmuls.Select(m => $"'{m.Name}'"))}: " +
                $"largest channel maximum {amax.Max():0.##} vs median {median:0.##}");
        }
        if (notes.Count == 0) return new Split(model, [], []);
        g.TopologicalSort();
        return new Split(g.Model, floatNodes, notes);
    }

    /// <summary>Each tensor's largest |value| per channel (its last axis) over the samples.</summary>
    private static Dictionary<string, double[]> ChannelMaxima(ModelProto model, IEnumerable<string> tensors,
        IReadOnlyList<IReadOnlyDictionary<string, NdArray>> samples, SourceLocation location)
    {
        var result = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var wanted = tensors.ToList();
        using var probe = new TensorProbe(model, wanted, location);
        foreach (var sample in samples)
        {
            var outputs = probe.Run(sample);
            foreach (var t in wanted)
            {
                // A graph input is not among the probe's outputs: its values are the sample's.
                if (!(sample.TryGetValue(t, out var value) || outputs.TryGetValue(t, out value)) || value.Shape.Length == 0) continue;
                var k = (int)value.Shape[^1];
                if (!result.TryGetValue(t, out var max)) result[t] = max = new double[k];
                var v = value.ToDoubles();
                for (var i = 0; i < v.Length; i++) max[i % k] = Math.Max(max[i % k], Math.Abs(v[i]));
            }
        }
        return result;
    }
}
