using Google.Protobuf;
using System.Runtime.InteropServices;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

namespace ModelBuild.Passes.Pruning;

/// <summary>One producer's output channels: before any pruning and after this one.</summary>
public sealed record ChannelPruneLayer(string Node, string OpType, int Channels, int Kept);

/// <summary>
/// Removes the least important output channels of every prunable group (<see cref="ChannelGraph"/>) and rewires
/// their readers: producer weights and biases, BatchNormalization parameters, the next Conv's input channels and
/// the next Gemm's input features (c·S … c·S+S−1 after a Flatten). The tensors really shrink, so do size and latency.
/// </summary>
public static class StructuredPruner
{
    /// <param name="amount">Fraction of each group's original channels removed in total (schedules are cumulative).</param>
    /// <param name="original">Producer node → its channel count before the first step; absent = the current count.</param>
    /// <param name="roundTo">Kept counts are rounded to a multiple of this when the original count is one (1 = exact).</param>
    public static IReadOnlyList<ChannelPruneLayer> Prune(GraphEditor g, double amount, double n, IReadOnlyDictionary<string, int> original,
        SourceLocation location, int roundTo = 1)
    {
        g.PromoteConstants();
        g.TopologicalSort();
        g.Refresh();
        var graph = ChannelGraph.Analyze(g);
        var roots = graph.PrunableRoots.ToList();
        if (roots.Count == 0)
            throw new ModelBuildException(DiagnosticCodes.PassFailed,
                "structured pruning found no output channels it can remove without breaking the graph: " +
                (graph.Groups.Count == 0 ? "it has no Conv or Gemm with constant weights" : string.Join("; ", graph.BlockReasons.Take(6))) +
                ". Use an unstructured method (l1-unstructured, random-unstructured, global-unstructured) for this model.", location);

        var keep = new Dictionary<ChannelGroup, int[]>();
        foreach (var root in roots)
        {
            var before = original.GetValueOrDefault(root.Producer.Name, root.Channels);
            var target = Math.Max(1, before - (int)Math.Round(amount * before, MidpointRounding.ToEven));
            target = Aligned(target, before, roundTo);
            var remove = Math.Clamp(root.Channels - target, 0, root.Channels - 1);
            if (remove > 0) keep[root] = ChannelImportance.Keep(ChannelImportance.Of(g, graph, root, n), root.Channels - remove);
        }

        foreach (var site in graph.Sites)
        {
            var indices = Kept(site.Layout, keep);
            if (indices.Count == site.Layout.Channels) continue;
            var node = site.Node;
            switch (site.Kind)
            {
                case ChannelSiteKind.Producer:
                {
                    var (_, _, axis) = ChannelImportance.OutputWeights(g, node);
                    SliceInitializer(g, node.Input[1], axis, indices);
                    if (node.Input.Count > 2 && node.Input[2].Length > 0 && TensorData.Count(g.Initializers[node.Input[2]]) > 1)
                    {
                        var b = g.Initializers[node.Input[2]];
                        SliceInitializer(g, b.Name, b.Dims.ToList().FindIndex(d => d != 1), indices);
                    }
                    break;
                }
                case ChannelSiteKind.PerChannelParams:
                    for (var i = 1; i <= 4; i++) SliceInitializer(g, node.Input[i], 0, indices);
                    break;
                case ChannelSiteKind.ConvInput:
                    SliceInitializer(g, node.Input[1], 1, indices);
                    break;
                case ChannelSiteKind.GemmInput:
                {
                    var features = indices.SelectMany(c => Enumerable.Range(c * site.Spatial, site.Spatial)).ToList();
                    SliceInitializer(g, node.Input[1], GraphEditor.AttrInt(node, "transB", 0) != 0 ? 1 : 0, features);
                    break;
                }
            }
        }
        // Shapes recorded for intermediate tensors are stale now; ONNX Runtime infers them again.
        g.Graph.ValueInfo.Clear();
        g.Refresh();

        return graph.Groups.Select(group =>
        {
            var kept = keep.TryGetValue(group.Root, out var k) ? k.Length : group.Channels;
            return new ChannelPruneLayer(group.Producer.Name, group.Producer.OpType,
                original.GetValueOrDefault(group.Producer.Name, group.Channels), kept);
        }).ToList();
    }

    /// <summary>
    /// CPU convolution kernels work on blocks of channels (ONNX Runtime's NCHWc: 8 with AVX2, 16 with AVX-512); a count
    /// off the block falls back to a slower path, so 11 of 16 channels can run slower than all 16. Kept counts go to
    /// the nearest multiple (ties keep more), at least one block, when the layer's own count is a multiple.
    /// </summary>
    public static int Aligned(int kept, int channels, int roundTo)
    {
        if (roundTo <= 1 || channels % roundTo != 0) return kept;
        var blocks = (int)Math.Round((double)kept / roundTo, MidpointRounding.AwayFromZero);
        return Math.Clamp(blocks * roundTo, roundTo, channels);
    }

    /// <summary>Channel counts of every producer, for <see cref="Prune"/>'s <c>original</c> on later steps.</summary>
    public static Dictionary<string, int> ChannelCounts(GraphEditor g)
    {
        g.PromoteConstants();
        g.TopologicalSort();
        g.Refresh();
        return ChannelGraph.Analyze(g).Groups.ToDictionary(x => x.Producer.Name, x => x.Channels, StringComparer.Ordinal);
    }

    /// <summary>Global indices kept along a (possibly concatenated) channel axis.</summary>
    private static List<int> Kept(ChannelLayout layout, Dictionary<ChannelGroup, int[]> keep)
    {
        var result = new List<int>();
        var offset = 0;
        foreach (var segment in layout.Segments)
        {
            var kept = keep.TryGetValue(segment.Root, out var k) ? k : Enumerable.Range(0, segment.Channels).ToArray();
            result.AddRange(kept.Select(c => offset + c));
            offset += segment.Channels;
        }
        return result;
    }

    private static void SliceInitializer(GraphEditor g, string name, int axis, IReadOnlyList<int> keep)
    {
        var t = g.Initializers[name];
        var (values, dims) = Slicing.Keep(TensorData.ToFloats(t), t.Dims.ToArray(), axis, keep);
        t.FloatData.Clear();
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        t.Dims.Clear();
        t.Dims.AddRange(dims);
        // Old IR versions list initializers as graph inputs too; their declared shape must follow.
        if (g.Graph.Input.FirstOrDefault(i => i.Name == name)?.Type?.TensorType?.Shape is { } shape && shape.Dim.Count == dims.Length)
            for (var d = 0; d < dims.Length; d++) shape.Dim[d] = new global::Onnx.TensorShapeProto.Types.Dimension { DimValue = dims[d] };
    }
}
