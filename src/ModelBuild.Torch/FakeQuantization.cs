using ModelBuild.Onnx;
using ModelBuild.Passes.Pruning;
using ModelBuild.Passes.Quantization;
using Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelBuild.Torch;

/// <summary>
/// The QuantizeLinear/DequantizeLinear nodes of a QDQ model (QdqQuantizer's form) as fake quantization, for
/// quantization-aware training in <see cref="OnnxTorchGraph"/>:
/// <list type="bullet">
/// <item>A weight's DequantizeLinear (int8 initializer) becomes a float parameter holding the dequantized weight; the
/// forward pass rounds it to the int8 grid it will be written with (symmetric, scale = largest magnitude / 127 per
/// channel, or / 63 with reduce_range; QuantMath's formula), with a straight-through estimator: gradients reach the
/// float weight as if there were no rounding.</item>
/// <item>A bias's DequantizeLinear (int32) becomes a float parameter; it is quantized again when written back, with
/// the trained input scale times the new weight scales.</item>
/// <item>An activation's QuantizeLinear rounds and clamps to its uint8 grid, (clamp(round(x/s) + z, 0, 255) − z)·s,
/// straight-through inside the range and zero gradient outside (clipped values); its DequantizeLinear readers pass
/// the result on. With learned scales, s = exp(log s) is a parameter (one per scale initializer, shared by every Q/DQ
/// that reads it), trained by the gradient of the rounded expression (the learned-step-size estimator); zero points
/// stay fixed. Otherwise scales stay at their calibrated values.</item>
/// </list>
/// <see cref="WriteBack"/> stores the trained scales and the re-quantized weights and biases into the initializers.
/// </summary>
internal sealed class FakeQuantization : IDisposable
{
    private sealed record WeightSlot(NodeProto Dq, int Axis, Parameter Value);

    private readonly GraphEditor _g;
    private readonly QatTraining _options;
    private readonly Dictionary<string, WeightSlot> _weights = new(StringComparer.Ordinal); // by DQ output
    private readonly Dictionary<string, (NodeProto Dq, Parameter Value)> _biases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tensor> _scales = new(StringComparer.Ordinal); // activation scale initializer → log s or s
    private readonly Dictionary<string, Tensor> _zeroPoints = new(StringComparer.Ordinal);

    public FakeQuantization(GraphEditor g, QatTraining options)
    {
        _g = g;
        _options = options;
        foreach (var node in g.Graph.Node)
        {
            if (node.OpType == "DequantizeLinear" && g.Initializers.TryGetValue(node.Input[0], out var q))
            {
                var values = Dequantized(q, node);
                var p = new Parameter(tensor(values, q.Dims.ToArray()), requires_grad: true);
                if (q.DataType == TensorData.Int32) _biases[node.Output[0]] = (node, p);
                else _weights[node.Output[0]] = new WeightSlot(node, Axis(node, q), p);
            }
            else if (node.OpType == "QuantizeLinear")
            {
                var scaleName = node.Input[1];
                if (_scales.ContainsKey(scaleName)) continue;
                var s = TensorData.ToFloats(g.Initializers[scaleName])[0];
                _scales[scaleName] = options.LearnScales ? new Parameter(tensor(MathF.Log(s)), requires_grad: true) : tensor(s);
                _zeroPoints[scaleName] = tensor((float)Integers(g.Initializers[node.Input[2]])[0]);
            }
        }
    }

    /// <summary>Float weights, float biases and (learned) log activation scales, by a unique name.</summary>
    public IEnumerable<KeyValuePair<string, Parameter>> Parameters =>
        _weights.Select(w => KeyValuePair.Create(w.Key, w.Value.Value))
            .Concat(_biases.Select(b => KeyValuePair.Create(b.Key, b.Value.Value)))
            .Concat(_scales.Where(s => s.Value is Parameter).Select(s => KeyValuePair.Create(s.Key, (Parameter)s.Value)));

    /// <summary>The names (in <see cref="Parameters"/>) of the learned log activation scales.</summary>
    public IEnumerable<string> ScaleNames => _scales.Where(s => s.Value is Parameter).Select(s => s.Key);

    /// <summary>True for the DequantizeLinear nodes this handles without reading their (integer) input.</summary>
    public bool OwnsInitializer(NodeProto dq) => _weights.ContainsKey(dq.Output[0]) || _biases.ContainsKey(dq.Output[0]);

    /// <summary>A weight's or bias's DequantizeLinear, from its float parameter.</summary>
    public Tensor DequantizeInitializer(NodeProto dq)
    {
        if (_biases.TryGetValue(dq.Output[0], out var bias)) return bias.Value;
        var w = _weights[dq.Output[0]];
        var scale = WeightScales(w.Value.detach(), w.Axis);
        var limit = Limit;
        var rounded = (w.Value / scale).round().clamp(-limit, limit) * scale;
        return w.Value + (rounded - w.Value).detach();
    }

    /// <summary>An activation's QuantizeLinear: the fake-quantized float values (its DequantizeLinear passes them on).</summary>
    public Tensor Quantize(NodeProto q, Tensor x)
    {
        var stored = _scales[q.Input[1]];
        var scale = stored is Parameter ? stored.exp() : stored;
        var zero = _zeroPoints[q.Input[1]];
        var v = x / scale + zero;
        var rounded = v + (v.round() - v).detach();
        return (rounded.clamp(0, 255) - zero) * scale;
    }

    /// <summary>Trained scales, re-quantized weights and biases into the model's initializers.</summary>
    public void WriteBack()
    {
        foreach (var (name, stored) in _scales)
        {
            using var s = stored is Parameter ? stored.detach().exp() : stored.detach();
            Replace(name, TensorData.FromFloats(name, _g.Initializers[name].Dims, [Math.Min(s.item<float>(), ClipCeiling(name))]));
        }
        var weightScales = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (output, w) in _weights)
        {
            var q = _g.Initializers[w.Dq.Input[0]];
            using var values = w.Value.detach().contiguous();
            var (ints, scales) = QuantMath.QuantizeWeights(values.data<float>().ToArray(), q.Dims.ToArray(), w.Axis, _options.ReduceRange);
            Replace(q.Name, TensorData.FromInt8s(q.Name, q.Dims, ints));
            Replace(w.Dq.Input[1], TensorData.FromFloats(w.Dq.Input[1], _g.Initializers[w.Dq.Input[1]].Dims, scales));
            weightScales[output] = scales;
        }
        _g.Refresh();
        foreach (var (output, (dq, value)) in _biases)
        {
            // Bias scale = input scale × weight scale, as QdqQuantizer wrote it, with the trained values.
            var reader = _g.ConsumersOf(output).Single();
            var inputScale = TensorData.ToFloats(_g.Initializers[_g.ProducerOf(reader.Input[0])!.Input[1]])[0];
            var wScales = weightScales[reader.Input[1]];
            var scales = wScales.Select(s => inputScale * s).ToArray();
            using var b = value.detach().contiguous();
            var floats = b.data<float>().ToArray();
            var ints = floats.Select((v, i) => (int)Math.Clamp(Math.Round(v / (double)scales[scales.Length > 1 ? i : 0], MidpointRounding.ToEven),
                int.MinValue, int.MaxValue)).ToArray();
            var qName = dq.Input[0];
            Replace(qName, TensorData.FromInt32s(qName, _g.Initializers[qName].Dims, ints));
            Replace(dq.Input[1], TensorData.FromFloats(dq.Input[1], _g.Initializers[dq.Input[1]].Dims, scales));
        }
    }

    /// <summary>
    /// The largest scale whose quantized range stays inside the Clip that feeds the QuantizeLinear (ReLU6's 6 / 255):
    /// a learned scale that grew past it wastes codes on values the Clip never lets through, and ONNX Runtime then
    /// keeps the Clip, so the Conv before it is not fused into QLinearConv (measured on the depthwise Fashion net: 7 of
    /// 16 Convs left float, 4.5× fp32). Capping changes no value the model can produce. +∞ where no Clip feeds it.
    /// </summary>
    private float ClipCeiling(string scaleName)
    {
        var ceiling = float.PositiveInfinity;
        foreach (var q in _g.Graph.Node.Where(n => n.OpType == "QuantizeLinear" && n.Input[1] == scaleName))
        {
            if (_g.ProducerOf(q.Input[0]) is not { OpType: "Clip" } clip) continue;
            var max = clip.Input.Count > 2 && clip.Input[2].Length > 0 && _g.Initializers.TryGetValue(clip.Input[2], out var m)
                ? TensorData.ToFloats(m)[0]
                : GraphEditor.Attr(clip, "max") is { } a ? a.F : float.PositiveInfinity;
            var zeroPoint = _g.Initializers[q.Input[2]];
            var qmax = zeroPoint.DataType == TensorData.Int8 ? 127f : 255f;
            var zero = (float)Integers(zeroPoint)[0];
            if (float.IsFinite(max) && max > 0 && qmax > zero) ceiling = Math.Min(ceiling, max / (qmax - zero));
        }
        return ceiling;
    }

    private float Limit => _options.ReduceRange ? 63f : 127f;

    /// <summary>Per channel along <paramref name="axis"/> (or one for the tensor): largest magnitude / limit, 1 where all are zero.</summary>
    private Tensor WeightScales(Tensor w, int axis)
    {
        var absMax = axis < 0
            ? w.abs().max()
            : w.abs().amax(Enumerable.Range(0, (int)w.dim()).Where(d => d != axis).Select(d => (long)d).ToArray(), keepdim: true);
        return where(absMax > 0, absMax / Limit, ones_like(absMax));
    }

    private void Replace(string name, TensorProto fresh)
    {
        var t = _g.Initializers[name];
        t.FloatData.Clear();
        t.Int32Data.Clear();
        t.RawData = fresh.RawData;
    }

    /// <summary>The DequantizeLinear's axis for a per-channel scale vector (ONNX default 1); −1 for a scalar scale.</summary>
    private int Axis(NodeProto dq, TensorProto q)
    {
        if (_g.Initializers[dq.Input[1]].Dims.Count == 0) return -1;
        var axis = (int)GraphEditor.AttrInt(dq, "axis", 1);
        return axis < 0 ? axis + q.Dims.Count : axis;
    }

    private float[] Dequantized(TensorProto q, NodeProto dq)
    {
        var ints = Integers(q);
        var scales = TensorData.ToFloats(_g.Initializers[dq.Input[1]]);
        var zeros = dq.Input.Count > 2 && dq.Input[2].Length > 0 ? Integers(_g.Initializers[dq.Input[2]]) : new long[scales.Length];
        var axis = Axis(dq, q);
        long inner = 1;
        if (axis >= 0)
            for (var d = axis + 1; d < q.Dims.Count; d++) inner *= q.Dims[d];
        var values = new float[ints.Length];
        for (long i = 0; i < ints.Length; i++)
        {
            var c = axis < 0 ? 0 : (int)(i / inner % q.Dims[axis]);
            values[i] = (ints[i] - zeros[c]) * scales[c];
        }
        return values;
    }

    /// <summary>int8, uint8 and int32 initializer values.</summary>
    private static long[] Integers(TensorProto t) => t.DataType switch
    {
        TensorData.Int8 => t.RawData.Length > 0 ? t.RawData.Span.ToArray().Select(b => (long)(sbyte)b).ToArray() : t.Int32Data.Select(v => (long)v).ToArray(),
        TensorData.UInt8 => t.RawData.Length > 0 ? t.RawData.Span.ToArray().Select(b => (long)b).ToArray() : t.Int32Data.Select(v => (long)v).ToArray(),
        _ => TensorData.ToInt64s(t),
    };

    public void Dispose()
    {
        foreach (var w in _weights.Values) w.Value.Dispose();
        foreach (var b in _biases.Values) b.Value.Dispose();
        foreach (var s in _scales.Values) s.Dispose();
        foreach (var z in _zeroPoints.Values) z.Dispose();
    }
}
