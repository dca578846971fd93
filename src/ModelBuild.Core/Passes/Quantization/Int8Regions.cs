using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// Contiguous stretches of a graph to quantize as one int8 region. A float island inside int8 (or the reverse) costs a
/// QuantizeLinear, a DequantizeLinear and, on ONNX Runtime's CPU, a change between its int8 NHWC and float NCHWc
/// layouts at every edge — costs no per-node profile shows. So regions start and end only where the fewest
/// activations cross (a block's single output in a CNN, the hidden state and the mask between transformer layers),
/// and a region's worth is the sum of its nodes' measured gains (float µs − int8 µs). The best regions are proposals;
/// whole-model timing decides among them.
/// </summary>
public static class Int8Regions
{
    /// <summary>A stretch of the graph's node list, [Start, End), in topological order.</summary>
    public sealed record Region(int Start, int End, double Gain, string Kind);

    /// <summary>
    /// Positions p (the boundary before node p) where the number of activation tensors crossing is the smallest over
    /// the graph's interior, plus 0 and the node count. An activation is a tensor that depends on a graph input, other
    /// than what <c>Shape</c>/<c>Size</c> compute from one (shape arithmetic carries no values worth quantizing).
    /// </summary>
    public static IReadOnlyList<int> Cuts(GraphProto graph)
    {
        var n = graph.Node.Count;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var born = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var input in graph.Input.Where(i => !initializers.Contains(i.Name))) born[input.Name] = -1;
        for (var i = 0; i < n; i++)
        {
            var node = graph.Node[i];
            if (node.OpType is "Shape" or "Size" || !node.Input.Any(born.ContainsKey)) continue;
            foreach (var output in node.Output.Where(o => o.Length > 0)) born[output] = i;
        }
        var lastUse = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
            foreach (var input in graph.Node[i].Input.Where(born.ContainsKey)) lastUse[input] = i;
        foreach (var output in graph.Output.Where(o => born.ContainsKey(o.Name))) lastUse[output.Name] = n;

        // crossing[p]: activations born before p and read at p or later.
        var delta = new int[n + 2];
        foreach (var (tensor, from) in born)
        {
            if (!lastUse.TryGetValue(tensor, out var to) || to <= from) continue;
            delta[from + 1]++;
            delta[to + 1]--;
        }
        var crossing = new int[n + 1];
        for (int p = 0, running = 0; p <= n; p++) crossing[p] = running += delta[p];
        var interior = Enumerable.Range(1, Math.Max(0, n - 1)).ToList();
        if (interior.Count == 0) return [0, n];
        var fewest = interior.Min(p => crossing[p]);
        return interior.Where(p => crossing[p] == fewest).Prepend(0).Append(n).ToList();
    }

    /// <summary>How many stretches running to the graph's end are timed: per-node gains are noisy, and a wide late stretch
    /// whose middle nets out near zero can beat the narrow one the estimate prefers (MobileNetV3-Small at 224²: blocks 9
    /// on 0.86×, the classifier alone 0.89×).</summary>
    public const int Suffixes = 3;

    /// <summary>
    /// The regions worth timing, best first and distinct: the stretch between cuts with the largest total gain, the
    /// <see cref="Suffixes"/> best that run to the graph's end (late layers are wide and small: int8 pays there), and the
    /// best from its start. A region whose gain is not positive is not proposed, nor the whole graph (the all-int8
    /// model, timed anyway).
    /// </summary>
    /// <param name="gains">Each candidate's position in the node list and its gain in µs (float − int8).</param>
    public static IReadOnlyList<Region> Propose(IReadOnlyList<int> cuts, IReadOnlyList<(int Position, double Gain)> gains)
    {
        // The gain between consecutive cuts, then every run of segments.
        var segment = new double[cuts.Count - 1];
        foreach (var (position, gain) in gains)
        {
            var k = SegmentOf(cuts, position);
            if (k >= 0) segment[k] += gain;
        }
        var prefix = new double[segment.Length + 1];
        for (var k = 0; k < segment.Length; k++) prefix[k + 1] = prefix[k] + segment[k];
        var stretches = new List<Region>();
        for (var a = 0; a < segment.Length; a++)
            for (var b = a + 1; b <= segment.Length; b++)
                if (prefix[b] - prefix[a] > 0 && !(a == 0 && b == segment.Length))
                    stretches.Add(new Region(cuts[a], cuts[b], prefix[b] - prefix[a], ""));
        // Stretches that hold the same candidates build the same model: one of each (the one with the largest gain).
        var positions = gains.Select(g => g.Position).Order().ToArray();
        (int, int) Holds(Region r) => (FirstAtOrAfter(positions, r.Start), FirstAtOrAfter(positions, r.End) - 1);
        var distinct = stretches.OrderByDescending(r => r.Gain).DistinctBy(Holds).ToList();
        var n = cuts[^1];
        var picks = distinct.Take(1).Select(r => r with { Kind = "best stretch" })
            .Concat(distinct.Where(r => r.End == n).Take(Suffixes).Select(r => r with { Kind = "stretch to the end" }))
            .Concat(distinct.Where(r => r.Start == 0).Take(1).Select(r => r with { Kind = "best stretch from the start" }));
        var result = new List<Region>();
        foreach (var r in picks)
            if (!result.Any(x => Holds(x) == Holds(r))) result.Add(r);
        return result;
    }

    /// <summary>Whether the node at <paramref name="position"/> lies in <paramref name="region"/>.</summary>
    public static bool Contains(Region region, int position) => position >= region.Start && position < region.End;

    /// <summary>The index of the first sorted value ≥ <paramref name="value"/> (the length when there is none).</summary>
    private static int FirstAtOrAfter(int[] sorted, int value)
    {
        int low = 0, high = sorted.Length;
        while (low < high)
        {
            var mid = (low + high) / 2;
            if (sorted[mid] < value) low = mid + 1; else high = mid;
        }
        return low;
    }

    private static int SegmentOf(IReadOnlyList<int> cuts, int position)
    {
        for (var k = 0; k + 1 < cuts.Count; k++)
            if (position >= cuts[k] && position < cuts[k + 1]) return k;
        return -1;
    }
}
