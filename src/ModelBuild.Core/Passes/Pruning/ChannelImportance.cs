using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Pruning;

/// <summary>
/// Importance of each output channel of a group: the Ln norm of the producer's weights for that channel (as
/// PyTorch's ln_structured, dim 0), summed over every producer a residual join ties to it.
/// </summary>
public static class ChannelImportance
{
    public static double[] Of(GraphEditor g, ChannelGraph graph, ChannelGroup root, double n)
    {
        var importance = new double[root.Channels];
        foreach (var member in graph.Members(root))
        {
            var (w, dims, axis) = OutputWeights(g, member.Producer);
            for (var c = 0; c < root.Channels; c++)
            {
                var values = Slicing.IndicesOf(dims, axis, c).Select(i => Math.Abs((double)w[i]));
                importance[c] += double.IsPositiveInfinity(n) ? values.DefaultIfEmpty(0).Max() : Math.Pow(values.Sum(v => Math.Pow(v, n)), 1 / n);
            }
        }
        return importance;
    }

    /// <summary>The channels kept: the <paramref name="keep"/> most important, ties to the lower index, in ascending order.</summary>
    public static int[] Keep(double[] importance, int keep) =>
        Enumerable.Range(0, importance.Length).OrderByDescending(c => importance[c]).ThenBy(c => c).Take(keep).Order().ToArray();

    /// <summary>The producer's weight values, dims and the axis holding output channels.</summary>
    internal static (float[] Values, long[] Dims, int Axis) OutputWeights(GraphEditor g, NodeProto producer)
    {
        var w = g.Initializers[producer.Input[1]];
        var axis = producer.OpType == "Gemm" && GraphEditor.AttrInt(producer, "transB", 0) == 0 ? 1 : 0;
        return (TensorData.ToFloats(w), w.Dims.ToArray(), axis);
    }
}

/// <summary>Index arithmetic for keeping some positions of one axis of a dense row-major tensor.</summary>
internal static class Slicing
{
    public static long Strides(long[] dims, int axis) => dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);

    /// <summary>Flat indices of the elements whose <paramref name="axis"/> coordinate is <paramref name="index"/>.</summary>
    public static IEnumerable<long> IndicesOf(long[] dims, int axis, long index)
    {
        var inner = Strides(dims, axis);
        var outer = dims.Take(axis).Aggregate(1L, (a, b) => a * b);
        for (long o = 0; o < outer; o++)
        {
            var start = (o * dims[axis] + index) * inner;
            for (long i = 0; i < inner; i++) yield return start + i;
        }
    }

    /// <summary>The tensor with only <paramref name="keep"/> (ascending) along <paramref name="axis"/>.</summary>
    public static (float[] Values, long[] Dims) Keep(float[] values, long[] dims, int axis, IReadOnlyList<int> keep)
    {
        var inner = Strides(dims, axis);
        var outer = dims.Take(axis).Aggregate(1L, (a, b) => a * b);
        var result = new float[outer * keep.Count * inner];
        long at = 0;
        for (long o = 0; o < outer; o++)
            foreach (var k in keep)
            {
                Array.Copy(values, (o * dims[axis] + k) * inner, result, at, inner);
                at += inner;
            }
        var newDims = (long[])dims.Clone();
        newDims[axis] = keep.Count;
        return (result, newDims);
    }
}
