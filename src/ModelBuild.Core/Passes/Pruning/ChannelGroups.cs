using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Pruning;

/// <summary>
/// Output channels of one Conv/Gemm (a group). Groups joined by a residual Add share one channel selection
/// (union-find: <see cref="Root"/>). A group with a <see cref="Blockers"/> entry is never pruned.
/// </summary>
public sealed class ChannelGroup(int id, NodeProto producer, int channels)
{
    public int Id { get; } = id;
    public NodeProto Producer { get; } = producer;
    public int Channels { get; } = channels;
    internal ChannelGroup Parent { get; set; } = null!;
    public ChannelGroup Root => Parent == this ? this : Parent = Parent.Root;
    public List<string> Blockers { get; } = new();
}

/// <summary>The channel axis of a tensor: segments, one per group (several after a Concat); Flatten marks it flattened (c·S + s).</summary>
public sealed record ChannelLayout(IReadOnlyList<ChannelGroup> Segments, bool Flattened)
{
    public int Channels => Segments.Sum(s => s.Channels);
}

public enum ChannelSiteKind
{
    /// <summary>A Conv/Gemm writing the group: weight output axis and bias.</summary>
    Producer,

    /// <summary>BatchNormalization: scale, bias, mean, variance per channel.</summary>
    PerChannelParams,

    /// <summary>A Conv reading the channels: weight axis 1.</summary>
    ConvInput,

    /// <summary>A Gemm reading the channels (flattened: each channel owns <c>Spatial</c> consecutive features).</summary>
    GemmInput,
}

public sealed record ChannelSite(ChannelSiteKind Kind, NodeProto Node, ChannelLayout Layout, int Spatial = 1);

/// <summary>
/// Which output channels can be removed, found by following each Conv/Gemm output forward through channel-wise ops
/// (BatchNormalization, Relu/Clip/… , pooling, Dropout) to the layers that read it (Conv, Gemm, Flatten→Gemm);
/// residual Add/Mul/… join groups, Concat along channels stacks them. Anything else reading the channels
/// (Reshape, Transpose, a graph output, a grouped Conv, …) blocks the groups it sees: removing is only safe when
/// every reader is rewritten.
/// </summary>
public sealed class ChannelGraph
{
    private static readonly HashSet<string> ChannelWise = new(StringComparer.Ordinal)
    {
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus", "Gelu", "Clip",
        "Identity", "Dropout", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Abs", "Neg", "Sqrt", "Exp", "Erf",
    };

    private static readonly HashSet<string> Binary = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum" };

    public List<ChannelGroup> Groups { get; } = new();
    public List<ChannelSite> Sites { get; } = new();

    /// <summary>Union roots that may be pruned.</summary>
    public IEnumerable<ChannelGroup> PrunableRoots => Groups.Where(g => g.Root == g && g.Blockers.Count == 0);

    /// <summary>Root → every group joined with it.</summary>
    public IEnumerable<ChannelGroup> Members(ChannelGroup root) => Groups.Where(g => g.Root == root.Root);

    /// <summary>Every reason a group was blocked, for the refusal message.</summary>
    public IEnumerable<string> BlockReasons => Groups.Where(g => g.Root == g).SelectMany(g => g.Blockers.Select(b => $"'{g.Producer.Name}': {b}"))
        .Distinct();

    /// <param name="g">Sorted topologically, constants promoted.</param>
    public static ChannelGraph Analyze(GraphEditor g)
    {
        var graph = new ChannelGraph();
        var layouts = new Dictionary<string, ChannelLayout>(StringComparer.Ordinal);
        foreach (var node in g.Graph.Node)
            graph.Visit(g, node, layouts);
        foreach (var output in g.Graph.Output)
            if (layouts.TryGetValue(output.Name, out var l)) Block(l, $"reaches graph output '{output.Name}'");
        return graph;
    }

    private void Visit(GraphEditor g, NodeProto node, Dictionary<string, ChannelLayout> layouts)
    {
        var inputs = node.Input.Select(i => i.Length > 0 ? layouts.GetValueOrDefault(i) : null).ToArray();
        var what = $"{node.OpType} '{node.Name}'";
        if (node.Domain is not ("" or "ai.onnx"))
        {
            BlockAll(inputs, $"read by {what} (domain {node.Domain})");
            return;
        }
        switch (node.OpType)
        {
            case "Conv":
            {
                var w = FloatInit(g, node, 1);
                var grouped = GraphEditor.AttrInt(node, "group", 1) != 1;
                if (inputs[0] is { } l)
                {
                    if (w is null || grouped) Block(l, $"read by {what} ({(grouped ? "grouped" : "weight not a constant")})");
                    else if (w.Dims[1] != l.Channels || l.Flattened) Block(l, $"read by {what} with an unexpected channel count");
                    else Sites.Add(new ChannelSite(ChannelSiteKind.ConvInput, node, l));
                }
                BlockAll(inputs.Skip(1), $"used as a weight of {what}");
                if (w is not null && !grouped && BiasOk(g, node, 2, w.Dims[0]))
                    Produce(node, (int)w.Dims[0], node.Output[0], layouts);
                return;
            }
            case "Gemm":
            {
                var w = FloatInit(g, node, 1);
                var transA = GraphEditor.AttrInt(node, "transA", 0) != 0;
                var transB = GraphEditor.AttrInt(node, "transB", 0) != 0;
                if (inputs[0] is { } l)
                {
                    var k = w is null ? -1 : transB ? w.Dims[1] : w.Dims[0];
                    if (w is null || transA) Block(l, $"read by {what} (transposed input or weight not a constant)");
                    else if (l.Flattened ? k % l.Channels != 0 : k != l.Channels)
                        Block(l, $"read by {what} with {k} features for {l.Channels} channels");
                    else Sites.Add(new ChannelSite(ChannelSiteKind.GemmInput, node, l, (int)(k / l.Channels)));
                }
                BlockAll(inputs.Skip(1), $"used as a weight of {what}");
                if (w is not null && !transA)
                {
                    var n = transB ? w.Dims[0] : w.Dims[1];
                    if (BiasOk(g, node, 2, n)) Produce(node, (int)n, node.Output[0], layouts);
                }
                return;
            }
            case "BatchNormalization":
            {
                var l = inputs[0];
                BlockAll(inputs.Skip(1), $"used as a parameter of {what}");
                if (l is null) return;
                var paramsOk = node.Input.Count == 5
                    && Enumerable.Range(1, 4).All(i => FloatInit(g, node, i) is { } t && t.Dims.Count == 1 && t.Dims[0] == l.Channels);
                if (!paramsOk || node.Output.Skip(1).Any(o => o.Length > 0) || l.Flattened)
                {
                    Block(l, $"read by {what} (parameters not constant or training outputs)");
                    return;
                }
                Sites.Add(new ChannelSite(ChannelSiteKind.PerChannelParams, node, l));
                layouts[node.Output[0]] = l;
                return;
            }
            case "Flatten":
                if (inputs[0] is { } f)
                {
                    if (GraphEditor.AttrInt(node, "axis", 1) == 1) layouts[node.Output[0]] = f with { Flattened = true };
                    else Block(f, $"read by {what} (axis ≠ 1)");
                }
                return;
            case "Concat":
            {
                var present = inputs.Where(l => l is not null).Select(l => l!).ToList();
                if (present.Count == 0) return;
                if (GraphEditor.AttrInt(node, "axis", 1) != 1 || present.Count != inputs.Length || present.Any(l => l.Flattened))
                {
                    BlockAll(inputs, $"read by {what} (not a channel concat of pruned tensors only)");
                    return;
                }
                layouts[node.Output[0]] = new ChannelLayout(present.SelectMany(l => l.Segments).ToList(), false);
                return;
            }
        }

        if (ChannelWise.Contains(node.OpType))
        {
            if (inputs[0] is not { } l) { BlockAll(inputs, $"used as a parameter of {what}"); return; }
            // Extra inputs (Clip's min/max, Dropout's ratio) must be scalars; extra outputs (MaxPool indices) must be unused.
            var extrasOk = node.Input.Skip(1).All(i => i.Length == 0 || (g.Initializers.TryGetValue(i, out var t) && TensorData.Count(t) == 1));
            var outputsOk = node.Output.Skip(1).All(o => o.Length == 0 || g.ConsumersOf(o).Count == 0 && !g.GraphOutputs.Contains(o));
            if (!extrasOk || !outputsOk || (l.Flattened && node.OpType.Contains("Pool")))
            {
                BlockAll(inputs, $"read by {what} (non-scalar parameters or used extra outputs)");
                return;
            }
            layouts[node.Output[0]] = l;
            return;
        }

        if (Binary.Contains(node.OpType))
        {
            var present = inputs.Where(l => l is not null).Select(l => l!).ToList();
            if (present.Count == 0) return;
            var othersScalar = node.Input.Where((name, i) => inputs[i] is null)
                .All(i => g.Initializers.TryGetValue(i, out var t) && TensorData.Count(t) == 1);
            var first = present[0];
            var aligned = present.All(l => l.Flattened == first.Flattened && l.Segments.Count == first.Segments.Count
                && l.Segments.Zip(first.Segments).All(p => p.First.Channels == p.Second.Channels));
            if (!othersScalar || !aligned) { BlockAll(inputs, $"read by {what} with operands pruning cannot keep aligned"); return; }
            // A residual join: both operands must keep the same channels.
            foreach (var l in present.Skip(1))
                for (var s = 0; s < l.Segments.Count; s++) Union(first.Segments[s], l.Segments[s]);
            layouts[node.Output[0]] = first;
            return;
        }

        BlockAll(inputs, $"read by {what}");
    }

    private void Produce(NodeProto node, int channels, string output, Dictionary<string, ChannelLayout> layouts)
    {
        var group = new ChannelGroup(Groups.Count, node, channels);
        group.Parent = group;
        Groups.Add(group);
        var layout = new ChannelLayout([group], false);
        layouts[output] = layout;
        Sites.Add(new ChannelSite(ChannelSiteKind.Producer, node, layout));
    }

    /// <summary>A float weight initializer read by this node only (rewriting a shared one would change other nodes).</summary>
    private static TensorProto? FloatInit(GraphEditor g, NodeProto node, int index) =>
        node.Input.Count > index && g.Initializers.TryGetValue(node.Input[index], out var t) && t.DataType == TensorData.Float
            && g.ConsumersOf(t.Name).Count == 1 && !g.GraphOutputs.Contains(t.Name) ? t : null;

    /// <summary>No bias, a scalar one, or one constant value per output channel.</summary>
    private static bool BiasOk(GraphEditor g, NodeProto node, int index, long channels)
    {
        if (node.Input.Count <= index || node.Input[index].Length == 0) return true;
        if (FloatInit(g, node, index) is not { } b) return false;
        var count = TensorData.Count(b);
        return count == 1 || count == channels && b.Dims.Count(d => d != 1) <= 1;
    }

    private static void Union(ChannelGroup a, ChannelGroup b)
    {
        var (ra, rb) = (a.Root, b.Root);
        if (ra == rb) return;
        rb.Parent = ra;
        ra.Blockers.AddRange(rb.Blockers);
    }

    private static void Block(ChannelLayout layout, string reason)
    {
        foreach (var s in layout.Segments)
            if (!s.Root.Blockers.Contains(reason)) s.Root.Blockers.Add(reason);
    }

    private static void BlockAll(IEnumerable<ChannelLayout?> layouts, string reason)
    {
        foreach (var l in layouts) if (l is not null) Block(l, reason);
    }
}
