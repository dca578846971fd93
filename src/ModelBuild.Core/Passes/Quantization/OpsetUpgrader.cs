using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// Raises the default-domain opset to <see cref="Target"/> (13: per-channel QuantizeLinear/DequantizeLinear axis).
/// Ops whose signature changed between the model's opset and 13 are rewritten (attributes that became inputs; the
/// 2-D softmax family as Flatten → softmax → Reshape), inside If/Loop bodies too; ops whose semantics changed in ways
/// a rewrite cannot prove safe are refused with MB2030 naming them.
/// </summary>
public static class OpsetUpgrader
{
    public const long Target = 13;
    public const long Oldest = 7;

    /// <summary>Ops whose meaning changed before 13 in ways this upgrader does not rewrite, with the reason.</summary>
    private static readonly Dictionary<string, string> Refused = new(StringComparer.Ordinal)
    {
        ["Upsample"] = "Upsample was replaced by Resize in opset 10",
        ["Resize"] = "Resize changed its inputs and coordinate modes in opset 11",
        ["Scatter"] = "Scatter was replaced by ScatterElements in opset 11",
        ["Scan"] = "Scan's inputs changed in opset 9 and 11",
        ["MaxUnpool"] = "not upgraded",
    };

    public static void Upgrade(GraphEditor g, SourceLocation location)
    {
        var from = g.Opset;
        if (from >= Target) return;
        if (from < Oldest)
            throw new ModelBuildException(DiagnosticCodes.PassFailed,
                $"the model imports opset {from}; quantization needs opset {Target} and ModelBuild upgrades only from opset {Oldest} on. Re-export " +
                $"the model with a newer opset.", location);

        var blocking = AllNodes(g.Graph).Select(p => p.Node)
            .Where(n => n.Domain is "" or "ai.onnx" && Refused.ContainsKey(n.OpType) && !(n.OpType == "Resize" && from >= 11))
            .Select(n => n.OpType).Distinct().ToList();
        if (blocking.Count > 0)
            throw new ModelBuildException(DiagnosticCodes.PassFailed,
                $"the model imports opset {from} and quantization needs opset {Target}, but these ops can't be upgraded safely: " +
                string.Join("; ", blocking.Select(op => $"{op} ({Refused[op]})")) + ". Re-export the model with opset 13 or newer.", location);

        // Subgraph bodies (If, Loop) are upgraded like the main graph: they share its opset import.
        foreach (var (node, owner) in AllNodes(g.Graph).Where(p => p.Node.Domain is "" or "ai.onnx").ToList())
        {
            switch (node.OpType)
            {
                case "Split":
                    AttributeToInput(g, node, "split", 1);
                    break;
                case "ReduceSum":
                    AttributeToInput(g, node, "axes", 1);
                    break;
                case "TopK" when from < 10:
                    var k = GraphEditor.AttrInt(node, "k", 1);
                    GraphEditor.RemoveAttr(node, "k");
                    node.Input.Add(g.AddInitializer(TensorData.FromInt64s(g.UniqueName(node.Name + "_k"), [1], [k])).Name);
                    break;
                case "BatchNormalization":
                    if (GraphEditor.AttrInt(node, "spatial", 1) != 1)
                        throw new ModelBuildException(DiagnosticCodes.PassFailed,
                            $"BatchNormalization '{node.Name}' uses spatial=0, which opset 9 removed; it can't be upgraded", location);
                    GraphEditor.RemoveAttr(node, "spatial");
                    GraphEditor.RemoveAttr(node, "is_test");
                    GraphEditor.RemoveAttr(node, "consumed_inputs");
                    break;
                case "Squeeze" or "Unsqueeze":
                    AttributeToInput(g, node, "axes", 1);
                    break;
                case "Dropout":
                    // Inference Dropout is the identity; the mask output must be unused.
                    if (node.Output.Skip(1).Any(o => o.Length > 0 && g.ConsumersOf(o).Count > 0))
                        throw new ModelBuildException(DiagnosticCodes.PassFailed, $"Dropout '{node.Name}' has its mask output in use; " +
                            $"it can't be upgraded", location);
                    node.OpType = "Identity";
                    node.Attribute.Clear();
                    while (node.Output.Count > 1) node.Output.RemoveAt(1);
                    break;
                case "Clip" when from < 11:
                    var min = GraphEditor.Attr(node, "min")?.F ?? float.MinValue;
                    var max = GraphEditor.Attr(node, "max")?.F ?? float.MaxValue;
                    node.Attribute.Clear();
                    node.Input.Add(g.AddInitializer(TensorData.FromFloats(node.Name + "_min", [], [min])).Name);
                    node.Input.Add(g.AddInitializer(TensorData.FromFloats(node.Name + "_max", [], [max])).Name);
                    break;
                case "Pad" when from < 11:
                    var pads = GraphEditor.Attr(node, "pads")?.Ints.ToArray() ?? [];
                    var value = GraphEditor.Attr(node, "value")?.F ?? 0f;
                    GraphEditor.RemoveAttr(node, "pads");
                    GraphEditor.RemoveAttr(node, "value");
                    node.Input.Add(g.AddInitializer(TensorData.FromInt64s(node.Name + "_pads", [pads.Length], pads)).Name);
                    node.Input.Add(g.AddInitializer(TensorData.FromFloats(node.Name + "_value", [], [value])).Name);
                    break;
                case "Softmax" or "LogSoftmax" or "Hardmax":
                    UpgradeSoftmaxFamily(g, node, owner);
                    break;
                case "Slice" when from < 10:
                    var starts = GraphEditor.Attr(node, "starts")?.Ints.ToArray() ?? [];
                    var ends = GraphEditor.Attr(node, "ends")?.Ints.ToArray() ?? [];
                    var axes = GraphEditor.Attr(node, "axes")?.Ints.ToArray() ?? Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
                    node.Attribute.Clear();
                    foreach (var (name, v) in new[] { ("starts", starts), ("ends", ends), ("axes", axes) })
                        node.Input.Add(g.AddInitializer(TensorData.FromInt64s($"{node.Name}_{name}", [v.Length], v)).Name);
                    break;
            }
        }
        g.Opset = Target;
        if (g.Model.IrVersion < 7) g.Model.IrVersion = 7; // opset 13 needs IR 7
        g.Refresh();
    }

    /// <summary>
    /// Before opset 13 these ops flatten their input to 2-D at 'axis' (default 1) and normalize over the whole
    /// trailing block; from 13 on they normalize over 'axis' alone. axis = -1 means the same thing in both. Any other
    /// axis is rewritten to the old meaning exactly, whatever the rank: Flatten(axis) → op over axis 1 → Reshape back
    /// to the input's shape.
    /// </summary>
    private static void UpgradeSoftmaxFamily(GraphEditor g, NodeProto node, GraphProto owner)
    {
        var axis = GraphEditor.AttrInt(node, "axis", 1);
        if (axis == -1) return;
        var input = node.Input[0];
        var output = node.Output[0];
        var flat = g.UniqueName(node.Name + "_flat");
        var flatResult = g.UniqueName(node.Name + "_2d");
        var shape = g.UniqueName(node.Name + "_shape");
        var at = owner.Node.IndexOf(node);
        var shapeNode = NewNode("Shape", [input], [shape], g.UniqueName(node.Name + "_shape"));
        var flatten = NewNode("Flatten", [input], [flat], g.UniqueName(node.Name + "_flatten"));
        GraphEditor.SetAttr(flatten, "axis", axis);
        node.Input[0] = flat;
        node.Output[0] = flatResult;
        GraphEditor.SetAttr(node, "axis", 1L);
        owner.Node.Insert(at, flatten);
        owner.Node.Insert(at, shapeNode);
        owner.Node.Insert(at + 3, NewNode("Reshape", [flatResult, shape], [output], g.UniqueName(node.Name + "_reshape")));
    }

    private static NodeProto NewNode(string op, string[] inputs, string[] outputs, string name)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    /// <summary>Every node with the graph that holds it, subgraphs of If/Loop/Scan included (depth first).</summary>
    private static IEnumerable<(NodeProto Node, GraphProto Owner)> AllNodes(GraphProto graph)
    {
        foreach (var node in graph.Node)
        {
            yield return (node, graph);
            foreach (var inner in GraphEditor.Bodies(node).SelectMany(AllNodes))
                yield return inner;
        }
    }

    private static void AttributeToInput(GraphEditor g, NodeProto node, string attribute, int position)
    {
        if (GraphEditor.Attr(node, attribute) is not { } a) return;
        var values = a.Ints.ToArray();
        node.Attribute.Remove(a);
        while (node.Input.Count < position) node.Input.Add("");
        node.Input.Add(g.AddInitializer(TensorData.FromInt64s($"{node.Name}_{attribute}", [values.Length], values)).Name);
    }
}
