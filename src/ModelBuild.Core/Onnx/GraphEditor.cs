using Onnx;

namespace ModelBuild.Onnx;

/// <summary>
/// Small editing layer over a <see cref="GraphProto"/>: initializers by name (Constant-node weights included once
/// <see cref="PromoteConstants"/> ran), producer/consumer maps, unique names and a topological sort.
/// Maps are rebuilt by <see cref="Refresh"/> after structural edits.
/// </summary>
public sealed class GraphEditor
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _counter;

    public GraphEditor(ModelProto model)
    {
        Model = model;
        Refresh();
    }

    public ModelProto Model { get; }
    public GraphProto Graph => Model.Graph;
    public Dictionary<string, TensorProto> Initializers { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, NodeProto> Producers { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, List<NodeProto>> Consumers { get; } = new(StringComparer.Ordinal);
    public HashSet<string> GraphOutputs { get; } = new(StringComparer.Ordinal);
    public HashSet<string> GraphInputs { get; } = new(StringComparer.Ordinal);

    /// <summary>The default-domain opset the model imports (0 when none).</summary>
    public long Opset
    {
        get => Model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
        set
        {
            var import = Model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
            if (import is null) Model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = value });
            else import.Version = value;
        }
    }

    public void Refresh()
    {
        Initializers.Clear(); Producers.Clear(); Consumers.Clear(); GraphOutputs.Clear(); GraphInputs.Clear();
        foreach (var t in Graph.Initializer) { Initializers[t.Name] = t; _names.Add(t.Name); }
        foreach (var i in Graph.Input) { _names.Add(i.Name); if (!Initializers.ContainsKey(i.Name)) GraphInputs.Add(i.Name); }
        foreach (var o in Graph.Output) { _names.Add(o.Name); GraphOutputs.Add(o.Name); }
        foreach (var node in Graph.Node)
        {
            if (node.Name.Length > 0) _names.Add(node.Name);
            foreach (var o in node.Output) { if (o.Length == 0) continue; Producers[o] = node; _names.Add(o); }
            foreach (var i in node.Input)
            {
                if (i.Length == 0) continue;
                if (!Consumers.TryGetValue(i, out var list)) Consumers[i] = list = new List<NodeProto>();
                if (!list.Contains(node)) list.Add(node);
            }
        }
    }

    /// <summary>Moves Constant nodes holding a tensor into initializers, so weights in either form are treated alike.</summary>
    public int PromoteConstants()
    {
        var moved = 0;
        foreach (var node in Graph.Node.ToList())
        {
            if (node.OpType != "Constant" || node.Domain is not ("" or "ai.onnx") || node.Output.Count != 1) continue;
            var value = node.Attribute.FirstOrDefault(a => a.Name == "value" && a.T is not null);
            if (value is null || node.Attribute.Count != 1) continue;
            var tensor = value.T.Clone();
            tensor.Name = node.Output[0];
            Graph.Initializer.Add(tensor);
            Graph.Node.Remove(node);
            moved++;
        }
        if (moved > 0) Refresh();
        return moved;
    }

    public IReadOnlyList<NodeProto> ConsumersOf(string tensor) => Consumers.TryGetValue(tensor, out var list) ? list : [];

    public NodeProto? ProducerOf(string tensor) => Producers.GetValueOrDefault(tensor);

    public bool IsInitializer(string tensor) => Initializers.ContainsKey(tensor);

    public string UniqueName(string prefix)
    {
        var name = prefix;
        while (!_names.Add(name)) name = $"{prefix}_{++_counter}";
        return name;
    }

    public TensorProto AddInitializer(TensorProto tensor)
    {
        tensor.Name = UniqueName(tensor.Name);
        Graph.Initializer.Add(tensor);
        Initializers[tensor.Name] = tensor;
        return tensor;
    }

    /// <summary>Removes an initializer no node reads any more (and its graph-input entry, for old IR versions).</summary>
    public void RemoveInitializerIfUnused(string name)
    {
        if (!Initializers.ContainsKey(name)) return;
        if (Graph.Node.Any(n => n.Input.Contains(name) || Bodies(n).Any() && OuterScopeReads(n).Contains(name)) || GraphOutputs.Contains(name))
            return;
        RemoveInitializer(name);
    }

    /// <summary>
    /// Removes every initializer that no node, subgraph or graph output reads, reading the graph once (a converter's
    /// or rewrite's folded weights leave their originals unread).
    /// </summary>
    public void RemoveUnusedInitializers()
    {
        var read = new HashSet<string>(GraphOutputs, StringComparer.Ordinal);
        foreach (var node in Graph.Node)
        {
            read.UnionWith(node.Input);
            if (Bodies(node).Any()) read.UnionWith(OuterScopeReads(node));
        }
        foreach (var name in Initializers.Keys.Where(name => !read.Contains(name)).ToList()) RemoveInitializer(name);
    }

    private void RemoveInitializer(string name)
    {
        var t = Initializers[name];
        Graph.Initializer.Remove(t);
        Initializers.Remove(name);
        var input = Graph.Input.FirstOrDefault(i => i.Name == name);
        if (input is not null) Graph.Input.Remove(input);
    }

    /// <summary>A node's subgraphs: the bodies of If (then/else), Loop and Scan.</summary>
    public static IEnumerable<GraphProto> Bodies(NodeProto node) =>
        node.Attribute.SelectMany(a => a.G is null ? a.Graphs : a.Graphs.Prepend(a.G));

    /// <summary>Names a node's bodies read from the enclosing graph: read inside (nested bodies included) and defined by
    /// none of the bodies' own inputs, initializers or nodes. They count as inputs of the node that owns the bodies.</summary>
    public static HashSet<string> OuterScopeReads(NodeProto owner)
    {
        var reads = new HashSet<string>(StringComparer.Ordinal);
        var defined = new HashSet<string>(StringComparer.Ordinal) { "" };
        void Walk(GraphProto body)
        {
            foreach (var i in body.Input) defined.Add(i.Name);
            foreach (var t in body.Initializer) defined.Add(t.Name);
            foreach (var n in body.Node)
            {
                foreach (var o in n.Output) defined.Add(o);
                foreach (var i in n.Input) reads.Add(i);
                foreach (var inner in Bodies(n)) Walk(inner);
            }
            foreach (var o in body.Output) reads.Add(o.Name);
        }
        foreach (var body in Bodies(owner)) Walk(body);
        reads.ExceptWith(defined);
        return reads;
    }

    public NodeProto AddNode(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, string namePrefix, string domain = "")
    {
        var node = new NodeProto { OpType = opType, Name = UniqueName(namePrefix), Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        Graph.Node.Add(node);
        return node;
    }

    /// <summary>Points every reader of <paramref name="from"/> except <paramref name="except"/> at <paramref name="to"/>.</summary>
    public void RedirectConsumers(string from, string to, ISet<NodeProto>? except = null)
    {
        foreach (var node in Graph.Node)
        {
            if (except?.Contains(node) == true) continue;
            for (var i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == from) node.Input[i] = to;
        }
    }

    /// <summary>Orders nodes so that every node comes after the producers of its inputs (Kahn's algorithm, stable).</summary>
    public void TopologicalSort()
    {
        var nodes = Graph.Node.ToList();
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < nodes.Count; i++)
            foreach (var o in nodes[i].Output) if (o.Length > 0) producer[o] = i;
        var pending = new int[nodes.Count];
        var dependents = new List<int>[nodes.Count];
        for (var i = 0; i < nodes.Count; i++) dependents[i] = new List<int>();
        for (var i = 0; i < nodes.Count; i++)
            foreach (var input in nodes[i].Input.Concat(OuterScopeReads(nodes[i])).Distinct())
                if (input.Length > 0 && producer.TryGetValue(input, out var p) && p != i) { pending[i]++; dependents[p].Add(i); }
        var ready = new PriorityQueue<int, int>();
        for (var i = 0; i < nodes.Count; i++) if (pending[i] == 0) ready.Enqueue(i, i);
        var order = new List<NodeProto>(nodes.Count);
        while (ready.TryDequeue(out var n, out _))
        {
            order.Add(nodes[n]);
            foreach (var d in dependents[n]) if (--pending[d] == 0) ready.Enqueue(d, d);
        }
        if (order.Count != nodes.Count) throw new InvalidOperationException("the graph has a cycle");
        Graph.Node.Clear();
        Graph.Node.AddRange(order);
    }

    public static AttributeProto? Attr(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    public static long AttrInt(NodeProto node, string name, long fallback) => Attr(node, name) is { } a ? a.I : fallback;

    public static float AttrFloat(NodeProto node, string name, float fallback) => Attr(node, name) is { } a ? a.F : fallback;

    public static void RemoveAttr(NodeProto node, string name)
    {
        if (Attr(node, name) is { } a) node.Attribute.Remove(a);
    }

    public static void SetAttr(NodeProto node, string name, long value)
    {
        RemoveAttr(node, name);
        node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });
    }

    public static void SetAttr(NodeProto node, string name, float value)
    {
        RemoveAttr(node, name);
        node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });
    }
}
