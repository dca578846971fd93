using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes;

/// <summary>Settings of the float16 conversion, and their one default.</summary>
public sealed record Fp16Config
{
    /// <summary>Ops whose fp16 versions lose too much or have no fp16 kernel: they stay float32 with Casts around them.</summary>
    public static readonly IReadOnlyList<string> DefaultBlockedOps =
        ["Resize", "Upsample", "TopK", "NonMaxSuppression", "Range", "CumSum", "RoiAlign"];

    public bool KeepIoTypes { get; init; } = true;
    public IReadOnlySet<string> BlockedOps { get; init; } = DefaultBlockedOps.ToHashSet(StringComparer.Ordinal);
}

/// <summary>
/// float32 → float16: float initializers and Constant values (clamped to ±65504), float Casts, graph inputs/outputs
/// (or Casts at the boundary with keep_io_types), and float32 islands for blocked ops. Tensor types come from
/// ONNX Runtime's own inference, so shape tensors and other non-float values are left alone.
/// </summary>
public sealed class Fp16Pass(Fp16Config config, SourceLocation location) : IModelPass
{
    private const float HalfMax = 65504f;

    public string Name => config.KeepIoTypes ? "fp16:keep_io_types" : "fp16";
    public bool IsLossless => false;

    public void Run(PassContext context)
    {
        var model = OnnxModelFile.Load(context.InputPath, location);
        Convert(model, config, location);
        File.WriteAllBytes(context.OutputPath, OnnxModelFile.Serialize(model));
    }

    public static void Convert(ModelProto model, Fp16Config config, SourceLocation location)
    {
        var g = new GraphEditor(model);
        var types = TensorTypeInference.Infer(model, location);
        bool IsFloat(string t) => t.Length > 0 && types.TryGetValue(t, out var ty) && ty == TensorData.Float;
        // Nodes with subgraphs (If, Loop, Scan) run as float32 islands too: their bodies keep float32 and read outer
        // values through Casts, so no body ever meets a value whose type changed outside it.
        var blocked = g.Graph.Node
            .Where(n => n.Domain is "" or "ai.onnx" && config.BlockedOps.Contains(n.OpType) || IsQuantizationOp(n) || GraphEditor.Bodies(n).Any())
            .ToList();
        var blockedSet = new HashSet<NodeProto>(blocked, ReferenceEqualityComparer.Instance);
        var outerReads = blocked.Where(n => GraphEditor.Bodies(n).Any())
            .ToDictionary(n => n, GraphEditor.OuterScopeReads, (IEqualityComparer<NodeProto>)ReferenceEqualityComparer.Instance);

        // Scales and other float initializers that only blocked ops read stay float32 as they are: no Cast, no rounding.
        var readInBodies = outerReads.Values.SelectMany(r => r).ToHashSet(StringComparer.Ordinal);
        var keptInitializers = g.Graph.Initializer
            .Where(t => t.DataType == TensorData.Float && !g.GraphOutputs.Contains(t.Name)
                && (ReadOnlyBy(g, t.Name, blockedSet) || g.ConsumersOf(t.Name).Count == 0 && readInBodies.Contains(t.Name)))
            .Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var t in g.Graph.Initializer.Where(t => t.DataType == TensorData.Float && !keptInitializers.Contains(t.Name)).ToList())
            Replace(g.Graph.Initializer, t, ToHalf(t));
        foreach (var node in g.Graph.Node.ToList())
        {
            if (blockedSet.Contains(node)) continue;
            foreach (var a in node.Attribute)
                if (a.T is { DataType: TensorData.Float } tensor) a.T = ToHalf(tensor);
            if (node.OpType == "Cast" && GraphEditor.AttrInt(node, "to", 0) == TensorData.Float)
                GraphEditor.SetAttr(node, "to", (long)TensorData.Float16);
            // ConstantOfShape without a value makes float32 zeros: make them float16 like everything around them.
            if (node.OpType == "ConstantOfShape" && GraphEditor.Attr(node, "value") is null)
                node.Attribute.Add(new AttributeProto
                {
                    Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = TensorData.FromHalfs("value", [1], [(Half)0]),
                });
            foreach (var dtype in node.Attribute.Where(a => a.Name == "dtype" && a.I == TensorData.Float && node.OpType is "EyeLike" or "RandomNormal"
                         or "RandomUniform" or "RandomNormalLike" or "RandomUniformLike"))
                dtype.I = TensorData.Float16;
        }

        // Bodies read outer float values: give them float32 copies, made just before the node that owns the body.
        foreach (var (owner, names) in outerReads)
            foreach (var name in names.Where(n =>
                         (IsFloat(n) || g.Initializers.ContainsKey(n) && g.Initializers[n].DataType == TensorData.Float16)
                         && !keptInitializers.Contains(n)))
            {
                var wide = g.UniqueName(name + "_fp32");
                GraphEditor.SetAttr(g.AddNode("Cast", [name], [wide], owner.Name + "_outer_cast"), "to", (long)TensorData.Float);
                foreach (var body in GraphEditor.Bodies(owner)) RenameReads(body, name, wide);
            }

        // Blocked ops: Cast float inputs up and outputs back down.
        var keptOutputs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in blocked)
        {
            for (var i = 0; i < node.Input.Count; i++)
            {
                if (!IsFloat(node.Input[i]) || keptInitializers.Contains(node.Input[i])) continue;
                var up = g.UniqueName(node.Input[i] + "_fp32");
                GraphEditor.SetAttr(g.AddNode("Cast", [node.Input[i]], [up], node.Name + "_input_cast"), "to", (long)TensorData.Float);
                node.Input[i] = up;
            }
            for (var i = 0; i < node.Output.Count; i++)
            {
                if (!IsFloat(node.Output[i])) continue;
                var original = node.Output[i];
                var narrow = g.UniqueName(original + "_fp16");
                if (g.GraphOutputs.Contains(original) && config.KeepIoTypes)
                {
                    // The graph output stays float32 as written; other readers get an fp16 copy.
                    keptOutputs.Add(original);
                    GraphEditor.SetAttr(g.AddNode("Cast", [original], [narrow], node.Name + "_output_cast"), "to", (long)TensorData.Float16);
                    var cast = g.Graph.Node[^1];
                    g.RedirectConsumers(original, narrow, new HashSet<NodeProto> { cast });
                    continue;
                }
                var wide = g.UniqueName(original + "_fp32");
                node.Output[i] = wide;
                GraphEditor.SetAttr(g.AddNode("Cast", [wide], [original], node.Name + "_output_cast"), "to", (long)TensorData.Float16);
            }
        }

        foreach (var input in g.Graph.Input.Where(i => g.GraphInputs.Contains(i.Name) && IsFloat(i.Name)))
        {
            if (!config.KeepIoTypes) { input.Type.TensorType.ElemType = TensorData.Float16; continue; }
            var half = g.UniqueName(input.Name + "_fp16");
            var cast = g.AddNode("Cast", [input.Name], [half], input.Name + "_to_fp16");
            GraphEditor.SetAttr(cast, "to", (long)TensorData.Float16);
            g.RedirectConsumers(input.Name, half, new HashSet<NodeProto> { cast });
        }
        g.Refresh();
        foreach (var output in g.Graph.Output.Where(o => IsFloat(o.Name)))
        {
            if (keptOutputs.Contains(output.Name)) continue;
            if (!config.KeepIoTypes) { output.Type.TensorType.ElemType = TensorData.Float16; continue; }
            var half = g.UniqueName(output.Name + "_fp16");
            foreach (var node in g.Graph.Node)
            {
                for (var i = 0; i < node.Output.Count; i++) if (node.Output[i] == output.Name) node.Output[i] = half;
                for (var i = 0; i < node.Input.Count; i++) if (node.Input[i] == output.Name) node.Input[i] = half;
            }
            GraphEditor.SetAttr(g.AddNode("Cast", [half], [output.Name], output.Name + "_to_fp32"), "to", (long)TensorData.Float);
        }
        // Intermediate types changed; ONNX Runtime infers them again.
        g.Graph.ValueInfo.Clear();
        g.Refresh();
        g.TopologicalSort();
    }

    /// <summary>
    /// Quantization ops of a quantized parent (fp16 chained after quantize): their scales and float inputs must be
    /// float32 (DynamicQuantizeLinear has no float16 version, and QuantizeLinear/DequantizeLinear need their input,
    /// scale and output in one type), so they run as a float32 island like blocked ops.
    /// </summary>
    private static bool IsQuantizationOp(NodeProto node) =>
        node.Domain is "" or "ai.onnx" or "com.microsoft"
        && (node.OpType is "QuantizeLinear" or "DequantizeLinear" or "DynamicQuantizeLinear" or "DynamicQuantizeLSTM"
            or "DynamicQuantizeMatMul" or "MatMulIntegerToFloat" or "QGemm" or "QAttention"
            || node.OpType.StartsWith("QLinear", StringComparison.Ordinal));

    /// <summary>Renames reads of an outer name inside a body (and its nested bodies), unless a body defines the name itself.</summary>
    private static void RenameReads(GraphProto body, string from, string to)
    {
        if (body.Input.Any(i => i.Name == from) || body.Initializer.Any(t => t.Name == from) || body.Node.Any(n => n.Output.Contains(from))) return;
        foreach (var n in body.Node)
        {
            for (var i = 0; i < n.Input.Count; i++) if (n.Input[i] == from) n.Input[i] = to;
            foreach (var inner in GraphEditor.Bodies(n)) RenameReads(inner, from, to);
        }
        foreach (var o in body.Output) if (o.Name == from) o.Name = to;
    }

    private static bool ReadOnlyBy(GraphEditor g, string tensor, IReadOnlySet<NodeProto> nodes)
    {
        var readers = g.ConsumersOf(tensor);
        return readers.Count > 0 && readers.All(nodes.Contains);
    }

    private static void Replace(Google.Protobuf.Collections.RepeatedField<TensorProto> list, TensorProto old, TensorProto replacement) =>
        list[list.IndexOf(old)] = replacement;

    internal static TensorProto ToHalf(TensorProto t)
    {
        var values = TensorData.ToFloats(t);
        var half = new Half[values.Length];
        for (var i = 0; i < values.Length; i++) half[i] = (Half)Math.Clamp(values[i], -HalfMax, HalfMax);
        return TensorData.FromHalfs(t.Name, t.Dims, half);
    }
}
