using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// How a node's output is quantized: its own calibrated range, the range of its first input (ops that only move values), or not at all.
/// </summary>
public enum OutputQuant
{
    None,
    Own,
    SameAsInput,
}

/// <summary>A weight input: quantized to int8 per tensor (<see cref="Axis"/> −1) or per channel along Axis.</summary>
public sealed record WeightInput(int Index, int Axis);

/// <summary>What a quantizer decided for one node.</summary>
public sealed record NodeQuantPlan(NodeProto Node, int[] Activations, WeightInput[] Weights, int? Bias, OutputQuant Output);

/// <summary>One op type (or family) and how its inputs map to activations, weights and bias.</summary>
public interface IOpQuantizer
{
    IReadOnlyCollection<string> OpTypes { get; }

    /// <summary>Null when this node can't be quantized (e.g. a weight that is not constant).</summary>
    NodeQuantPlan? Plan(NodeProto node, GraphEditor graph, bool perChannel);
}

/// <summary>Conv: activation X, weight W per output channel (axis 0), bias B as int32.</summary>
public sealed class ConvQuantizer : IOpQuantizer
{
    public IReadOnlyCollection<string> OpTypes { get; } = ["Conv"];

    public NodeQuantPlan? Plan(NodeProto node, GraphEditor graph, bool perChannel)
    {
        if (node.Input.Count < 2 || !IsFloatWeight(graph, node.Input[1])) return null;
        int? bias = node.Input.Count > 2 && node.Input[2].Length > 0 && IsFloatWeight(graph, node.Input[2]) ? 2 : null;
        if (node.Input.Count > 2 && node.Input[2].Length > 0 && bias is null) return null;
        return new NodeQuantPlan(node, [0], [new WeightInput(1, perChannel ? 0 : -1)], bias, OutputQuant.Own);
    }

    internal static bool IsFloatWeight(GraphEditor g, string name) =>
        g.Initializers.TryGetValue(name, out var t) && t.DataType == TensorData.Float;
}

/// <summary>Gemm (transA = 0): activation A, constant B per output column, C as int32 bias when it is a plain 1-D vector.</summary>
public sealed class GemmQuantizer : IOpQuantizer
{
    public IReadOnlyCollection<string> OpTypes { get; } = ["Gemm"];

    public NodeQuantPlan? Plan(NodeProto node, GraphEditor graph, bool perChannel)
    {
        if (GraphEditor.AttrInt(node, "transA", 0) != 0 || !ConvQuantizer.IsFloatWeight(graph, node.Input[1])) return null;
        if (graph.Initializers[node.Input[1]].Dims.Count != 2) return null;
        var axis = GraphEditor.AttrInt(node, "transB", 0) == 1 ? 0 : 1;
        int? bias = null;
        if (node.Input.Count > 2 && node.Input[2].Length > 0)
        {
            var plain = GraphEditor.AttrFloat(node, "alpha", 1) == 1 && GraphEditor.AttrFloat(node, "beta", 1) == 1;
            if (plain && ConvQuantizer.IsFloatWeight(graph, node.Input[2]) && graph.Initializers[node.Input[2]].Dims.Count == 1) bias = 2;
        }
        return new NodeQuantPlan(node, [0], [new WeightInput(1, perChannel ? axis : -1)], bias, OutputQuant.Own);
    }
}

/// <summary>MatMul: a constant 2-D B is a weight (per column); otherwise both sides are activations.</summary>
public sealed class MatMulQuantizer : IOpQuantizer
{
    public IReadOnlyCollection<string> OpTypes { get; } = ["MatMul"];

    public NodeQuantPlan? Plan(NodeProto node, GraphEditor graph, bool perChannel)
    {
        if (graph.IsInitializer(node.Input[0])) return null;
        if (graph.Initializers.TryGetValue(node.Input[1], out var b))
            return b.DataType == TensorData.Float && b.Dims.Count == 2
                ? new NodeQuantPlan(node, [0], [new WeightInput(1, perChannel ? 1 : -1)], null, OutputQuant.Own)
                : null;
        return new NodeQuantPlan(node, [0, 1], [], null, OutputQuant.Own);
    }
}

/// <summary>Elementwise Add/Mul with two computed inputs (the residual Adds of ResNets): ONNX Runtime has QLinearAdd/QLinearMul.</summary>
public sealed class BinaryQuantizer : IOpQuantizer
{
    public IReadOnlyCollection<string> OpTypes { get; } = ["Add", "Mul"];

    public NodeQuantPlan? Plan(NodeProto node, GraphEditor graph, bool perChannel) =>
        node.Input.Count == 2 && !graph.IsInitializer(node.Input[0]) && !graph.IsInitializer(node.Input[1])
            ? new NodeQuantPlan(node, [0, 1], [], null, OutputQuant.Own)
            : null;
}

/// <summary>Ops that compute new values from one input and have int8 kernels: pooling averages, activations.</summary>
public sealed class UnaryQuantizer : IOpQuantizer
{
    public IReadOnlyCollection<string> OpTypes { get; } = ["AveragePool", "GlobalAveragePool", "Relu", "Clip", "LeakyRelu", "Sigmoid"];

    public NodeQuantPlan? Plan(NodeProto node, GraphEditor graph, bool perChannel) =>
        graph.IsInitializer(node.Input[0]) ? null : new NodeQuantPlan(node, [0], [], null, OutputQuant.Own);
}

/// <summary>Ops that only select or move values: output keeps the input's scale, so ONNX Runtime can run them on int8 directly.</summary>
public sealed class SameScaleQuantizer : IOpQuantizer
{
    public IReadOnlyCollection<string> OpTypes { get; } = ["MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze"];

    public NodeQuantPlan? Plan(NodeProto node, GraphEditor graph, bool perChannel) =>
        graph.IsInitializer(node.Input[0]) || node.Output.Count(o => o.Length > 0) != 1
            ? null
            : new NodeQuantPlan(node, [0], [], null, OutputQuant.SameAsInput);
}

/// <summary>The op quantizers by op type.</summary>
public static class OpQuantizerRegistry
{
    private static readonly Dictionary<string, IOpQuantizer> ByOp = new IOpQuantizer[]
    {
        new ConvQuantizer(), new GemmQuantizer(), new MatMulQuantizer(), new BinaryQuantizer(), new UnaryQuantizer(), new SameScaleQuantizer(),
    }.SelectMany(q => q.OpTypes.Select(op => (op, q))).ToDictionary(p => p.op, p => p.q, StringComparer.Ordinal);

    public static IReadOnlyCollection<string> OpTypes => ByOp.Keys;

    public static IOpQuantizer? For(NodeProto node) =>
        node.Domain is "" or "ai.onnx" ? ByOp.GetValueOrDefault(node.OpType) : null;
}
