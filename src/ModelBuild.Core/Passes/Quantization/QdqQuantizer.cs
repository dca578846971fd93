using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

public enum QuantFormat
{
    Qdq,
    QOperator,
}

/// <summary>
/// Settings of static int8 quantization, and their one default: the manifest's quantize keys (PassPlanner) and
/// <c>modelbuild bench</c> start from these values.
/// </summary>
public sealed record StaticQuantConfig
{
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;

    /// <summary>Calibration samples read from the calibration data (the first N).</summary>
    public int CalibrationSamples { get; init; } = 256;

    /// <summary>One weight scale per output channel (Conv) or column (Gemm/MatMul): what int8 CNNs need to keep accuracy, at no cost in ONNX Runtime's kernels.</summary>
    public bool PerChannel { get; init; } = true;
    public bool SymmetricActivations { get; init; }

    /// <summary>7-bit weights: on by default only on x86 CPUs without VNNI, where 8-bit products saturate (see <see cref="Int8Cpu"/>).</summary>
    public bool ReduceRange { get; init; } = Int8Cpu.NeedsReducedRange;

    /// <summary>Keep float the nodes that run slower quantized on this machine (see <see cref="LatencyAwareSelection"/>).</summary>
    public bool LatencyAware { get; init; } = true;
    public QuantFormat Format { get; init; } = QuantFormat.Qdq;
    public IReadOnlySet<string> ExcludeOps { get; init; } = new HashSet<string>();
    public IReadOnlySet<string> ExcludeNodes { get; init; } = new HashSet<string>();
}

/// <summary>
/// Static int8 in QDQ form: int8 weight initializers → DequantizeLinear; every quantized activation gets a
/// QuantizeLinear after its producer and one DequantizeLinear per reader, so ONNX Runtime fuses DQ→op→Q into int8
/// kernels. Activations are uint8 (U8S8, x86's native form; symmetric = zero point 128), weights int8.
/// A Relu/Clip right after a quantized producer is left between them unquantized: ONNX Runtime folds it into the
/// following Q (its range starts at 0), which makes Conv+Relu one QLinearConv.
/// </summary>
public sealed class QdqQuantizer(StaticQuantConfig config)
{
    private static readonly HashSet<string> FusableProducers = new(StringComparer.Ordinal) { "Conv", "Gemm", "MatMul", "Add" };

    /// <summary>The nodes this config quantizes, in graph order.</summary>
    public List<NodeQuantPlan> PlanNodes(GraphEditor g)
    {
        var plans = new List<NodeQuantPlan>();
        foreach (var node in g.Graph.Node)
        {
            if (config.ExcludeOps.Contains(node.OpType) || config.ExcludeNodes.Contains(node.Name)) continue;
            if (OpQuantizerRegistry.For(node)?.Plan(node, g, config.PerChannel) is { } plan) plans.Add(plan);
        }
        return plans;
    }

    /// <summary>Activation tensors that get a Q/DQ pair, before calibration drops the non-float ones.</summary>
    public static List<string> ActivationTensors(GraphEditor g, IReadOnlyList<NodeQuantPlan> plans)
    {
        var planned = plans.Select(p => p.Node).ToHashSet();
        var set = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string t)
        {
            if (t.Length > 0 && !g.IsInitializer(t) && !g.GraphOutputs.Contains(t) && seen.Add(t)) set.Add(t);
        }
        foreach (var plan in plans)
        {
            foreach (var i in plan.Activations) Add(plan.Node.Input[i]);
            if (plan.Output != OutputQuant.None) Add(plan.Node.Output[0]);
        }
        foreach (var plan in plans.Where(p => p.Node.OpType is "Relu" or "Clip"))
        {
            var t = plan.Node.Input[0];
            if (g.ProducerOf(t) is { } producer && planned.Contains(producer) && FusableProducers.Contains(producer.OpType)
                && g.ConsumersOf(t).Count == 1)
            {
                set.Remove(t);
                seen.Remove(t);
            }
        }
        return set;
    }

    /// <param name="calibrated">Ranges already collected on the same data and method; the missing ones are collected and added.</param>
    public ModelProto Quantize(ModelProto preprocessed, IReadOnlyList<IReadOnlyDictionary<string, NdArray>> calibration, SourceLocation location,
        CancellationToken cancellation = default, Dictionary<string, TensorRange>? calibrated = null)
    {
        var model = preprocessed.Clone();
        var g = new GraphEditor(model);
        var plans = PlanNodes(g);
        var tensors = ActivationTensors(g, plans);
        var missing = calibrated is null ? tensors : tensors.Where(t => !calibrated.ContainsKey(t)).ToList();
        var ranges = missing.Count == 0 ? new Dictionary<string, TensorRange>(StringComparer.Ordinal)
            : Calibrator.Collect(preprocessed, missing, calibration, config.Method, location, cancellation);
        if (calibrated is not null)
        {
            foreach (var (t, r) in ranges) calibrated[t] = r;
            ranges = tensors.Where(calibrated.ContainsKey).ToDictionary(t => t, t => calibrated[t], StringComparer.Ordinal);
        }
        Apply(g, plans, ranges);
        return model;
    }

    /// <summary>Rewrites the graph with the given activation ranges (tensors without one stay float).</summary>
    public void Apply(GraphEditor g, IReadOnlyList<NodeQuantPlan> plans, IReadOnlyDictionary<string, TensorRange> ranges)
    {
        if (!config.SymmetricActivations) plans = FoldRelus(g, plans, ranges);
        // Params per tensor; ops that only move values reuse their input's initializers (same scale → int8 pass-through).
        var paramsOf = new Dictionary<string, (QuantParams P, string Scale, string Zp)>(StringComparer.Ordinal);
        var byOutput = plans.Where(p => p.Output == OutputQuant.SameAsInput).ToDictionary(p => p.Node.Output[0], StringComparer.Ordinal);
        foreach (var node in g.Graph.Node.ToList())
            foreach (var t in node.Input.Concat(node.Output).Where(ranges.ContainsKey))
                Ensure(t);
        foreach (var t in g.GraphInputs.Where(ranges.ContainsKey)) Ensure(t);

        void Ensure(string t)
        {
            if (paramsOf.ContainsKey(t)) return;
            if (byOutput.TryGetValue(t, out var plan) && ranges.ContainsKey(plan.Node.Input[0]))
            {
                Ensure(plan.Node.Input[0]);
                paramsOf[t] = paramsOf[plan.Node.Input[0]];
                return;
            }
            var p = QuantMath.Activation(ranges[t], config.SymmetricActivations);
            var scale = g.AddInitializer(TensorData.FromFloats(t + "_scale", [], [p.Scale])).Name;
            var zp = g.AddInitializer(TensorData.FromUInt8s(t + "_zero_point", [], [(byte)p.ZeroPoint])).Name;
            paramsOf[t] = (p, scale, zp);
        }

        // Weights and biases first: they rewrite node inputs by position, using the original activation names.
        var weightCache = new Dictionary<(string, int), (string Dq, float[] Scales)>();
        var replaced = new List<string>();
        foreach (var plan in plans)
        {
            var node = plan.Node;
            float[]? weightScales = null;
            foreach (var w in plan.Weights)
            {
                var name = node.Input[w.Index];
                if (!weightCache.TryGetValue((name, w.Axis), out var q))
                    weightCache[(name, w.Axis)] = q = QuantizeWeight(g, name, w.Axis);
                node.Input[w.Index] = q.Dq;
                weightScales ??= q.Scales;
            }
            if (plan.Bias is int b && weightScales is not null && paramsOf.TryGetValue(node.Input[plan.Activations[0]], out var x))
            {
                replaced.Add(node.Input[b]);
                node.Input[b] = QuantizeBias(g, node.Input[b], x.P.Scale, weightScales);
            }
        }

        // One Q per tensor, one DQ per reader: ONNX Runtime fuses a DQ→op→Q group only when the DQ feeds that op alone.
        g.Refresh();
        foreach (var (t, (_, scale, zp)) in paramsOf)
        {
            var readers = g.ConsumersOf(t).ToList();
            var q = g.UniqueName(t + "_quantized");
            g.AddNode("QuantizeLinear", [t, scale, zp], [q], t + "_QuantizeLinear");
            foreach (var reader in readers)
            {
                var dq = g.UniqueName(t + "_dequantized");
                g.AddNode("DequantizeLinear", [q, scale, zp], [dq], t + "_DequantizeLinear");
                for (var i = 0; i < reader.Input.Count; i++) if (reader.Input[i] == t) reader.Input[i] = dq;
            }
        }
        foreach (var name in weightCache.Keys.Select(k => k.Item1).Concat(replaced).Distinct().ToList()) g.RemoveInitializerIfUnused(name);
        g.TopologicalSort();
        g.Refresh();
    }

    /// <summary>
    /// A Relu between a quantized producer and its Q is redundant with asymmetric activations: the Q's zero point
    /// is real 0, so clamping to it is the Relu. Removing it lets ONNX Runtime see DQ→Conv→Q and fuse QLinearConv.
    /// </summary>
    private static List<NodeQuantPlan> FoldRelus(GraphEditor g, IReadOnlyList<NodeQuantPlan> plans, IReadOnlyDictionary<string, TensorRange> ranges)
    {
        var planned = plans.Select(p => p.Node).ToHashSet();
        var kept = new List<NodeQuantPlan>();
        foreach (var plan in plans)
        {
            var relu = plan.Node;
            if (relu.OpType == "Relu" && ranges.TryGetValue(relu.Output[0], out var r) && r.Min >= 0
                && g.ProducerOf(relu.Input[0]) is { } producer && planned.Contains(producer) && FusableProducers.Contains(producer.OpType)
                && g.ConsumersOf(relu.Input[0]).Count == 1 && !g.GraphOutputs.Contains(relu.Input[0]))
            {
                producer.Output[0] = relu.Output[0];
                g.Graph.Node.Remove(relu);
                continue;
            }
            kept.Add(plan);
        }
        g.Refresh();
        return kept;
    }

    private (string Dq, float[] Scales) QuantizeWeight(GraphEditor g, string name, int axis)
    {
        var t = g.Initializers[name];
        var dims = t.Dims.ToArray();
        var (values, scales) = QuantMath.QuantizeWeights(TensorData.ToFloats(t), dims, axis, config.ReduceRange);
        long[] paramDims = axis < 0 ? [] : [scales.Length];
        var q = g.AddInitializer(TensorData.FromInt8s(name + "_quantized", dims, values)).Name;
        var s = g.AddInitializer(TensorData.FromFloats(name + "_scale", paramDims, scales)).Name;
        var zp = g.AddInitializer(TensorData.FromInt8s(name + "_zero_point", paramDims, new sbyte[scales.Length])).Name;
        var dq = g.UniqueName(name + "_dequantized");
        var node = g.AddNode("DequantizeLinear", [q, s, zp], [dq], name + "_DequantizeLinear");
        if (axis >= 0) GraphEditor.SetAttr(node, "axis", axis);
        return (dq, scales);
    }

    /// <summary>Bias as int32 with scale x_scale·w_scale (zero point 0), so int8 kernels add it in the accumulator.</summary>
    private static string QuantizeBias(GraphEditor g, string name, float xScale, float[] wScales)
    {
        var b = TensorData.ToFloats(g.Initializers[name]);
        var perChannel = wScales.Length > 1;
        var scales = perChannel ? wScales.Select(s => xScale * s).ToArray() : [xScale * wScales[0]];
        var q = new int[b.Length];
        for (var i = 0; i < b.Length; i++)
        {
            var s = scales[perChannel ? i : 0];
            q[i] = (int)Math.Clamp(Math.Round(b[i] / s, MidpointRounding.ToEven), int.MinValue, int.MaxValue);
        }
        long[] paramDims = perChannel ? [scales.Length] : [];
        var qi = g.AddInitializer(TensorData.FromInt32s(name + "_quantized", [b.Length], q)).Name;
        var si = g.AddInitializer(TensorData.FromFloats(name + "_scale", paramDims, scales)).Name;
        var zi = g.AddInitializer(TensorData.FromInt32s(name + "_zero_point", paramDims, new int[scales.Length])).Name;
        var dq = g.UniqueName(name + "_dequantized");
        var node = g.AddNode("DequantizeLinear", [qi, si, zi], [dq], name + "_DequantizeLinear");
        if (perChannel) GraphEditor.SetAttr(node, "axis", 0L);
        return dq;
    }
}
