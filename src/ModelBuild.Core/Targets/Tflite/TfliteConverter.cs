using System.Runtime.InteropServices;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Targets.Tflite;

/// <summary>
/// ONNX → TFLite, one node at a time, in the graph's (topological) order.
/// <para>Shapes are static: the model is run once by ONNX Runtime at batch 1 (<see cref="TfliteExporter"/>), so every
/// tensor's shape is known and every tensor computed from constants and shapes alone is a constant (the
/// Shape → Gather → Concat → Reshape chains of traced models fold away).</para>
/// <para>Layout: a value remembers how its TFLite tensor's axes map to the ONNX tensor's (<see cref="Value.Perm"/>).
/// With NHWC, 4-D inputs and everything a layout-sensitive op (Conv, pools, Resize) produces stay NHWC; elementwise ops
/// follow their inputs; ops that need ONNX's own order (Reshape, MatMul) get one TRANSPOSE in front.</para>
/// <para>Quantization: a QDQ model's QuantizeLinear/DequantizeLinear pairs become TFLite tensor quantization. An op
/// whose activations arrive quantized, whose weights are quantized constants and whose output feeds a QuantizeLinear runs
/// in int8; anything else runs in float with DEQUANTIZE/QUANTIZE where the two meet.</para>
/// </summary>
internal sealed partial class TfliteConverter
{
    private static readonly int[] Nchw2Nhwc = [0, 2, 3, 1];

    private readonly GraphProto _graph;
    private readonly IReadOnlyDictionary<string, NdArray> _values;
    private readonly HashSet<string> _constants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers;
    private readonly Dictionary<string, NodeProto> _producer = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _graphOutputs;
    private readonly Dictionary<string, Value> _map = new(StringComparer.Ordinal);
    private readonly HashSet<NodeProto> _fused = new(ReferenceEqualityComparer.Instance);

    /// <summary>The last Mul of each written-out GELU, and the GELU's input.</summary>
    private readonly Dictionary<NodeProto, string> _gelus = new(ReferenceEqualityComparer.Instance);

    /// <summary>Tensors a ReLU produced: max pooling may pad them with zeros instead of −∞.</summary>
    private readonly HashSet<int> _nonNegative = [];
    private readonly TfliteSpec _spec;
    private readonly SourceLocation _location;
    private readonly bool _halfWeights;
    private NodeProto? _node;

    public TfliteModel Model { get; } = new();

    /// <summary>Ops whose int8 kernels exist in TFLite and which this converter emits in int8.</summary>
    public int QuantizedOps { get; private set; }
    public int FloatOps { get; private set; }

    private TfliteConverter(ModelProto model, IReadOnlyDictionary<string, NdArray> values, TfliteSpec spec, SourceLocation location)
    {
        _graph = model.Graph;
        _values = values;
        _spec = spec;
        _location = location;
        _initializers = _graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        _graphOutputs = _graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        // fp16 variants: float16 weights stay float16 in the file (half the size) and are widened by DEQUANTIZE.
        _halfWeights = _graph.Initializer.Any(t => t.DataType == TensorData.Float16);
        foreach (var node in _graph.Node)
        {
            foreach (var o in node.Output.Where(o => o.Length > 0)) _producer[o] = node;
            foreach (var i in node.Input.Where(i => i.Length > 0))
            {
                if (!_consumers.TryGetValue(i, out var list)) _consumers[i] = list = [];
                list.Add(node);
            }
        }
        FindConstants();
        FindGelus();
    }

    public static TfliteConverter Convert(ModelProto model, IReadOnlyDictionary<string, NdArray> values, TfliteSpec spec, SourceLocation location)
    {
        var converter = new TfliteConverter(model, values, spec, location);
        converter.Run();
        return converter;
    }

    /// <summary>An ONNX tensor as converted: its TFLite tensor in float, in int8, or both, with one axis order.</summary>
    private sealed class Value
    {
        /// <summary>TFLite axis i holds ONNX axis Perm[i].</summary>
        public required int[] Perm { get; init; }
        public required long[] Shape { get; init; }
        public TfliteTensor? Float { get; set; }
        public TfliteTensor? Quant { get; set; }
        public int Rank => Shape.Length;
        public bool IsPlain => Perm.Select((p, i) => p == i).All(b => b);
        public int[] TfliteShape => Perm.Select(p => (int)Shape[p]).ToArray();
    }

    private void Run()
    {
        foreach (var input in _graph.Input.Where(i => !_initializers.ContainsKey(i.Name)))
            AddGraphInput(input.Name);
        foreach (var node in _graph.Node)
        {
            if (_fused.Contains(node) || node.Output.All(o => o.Length == 0 || _constants.Contains(o))) continue;
            _node = node;
            ConvertNode(node);
        }
        _node = null;
        foreach (var output in _graph.Output)
            AddGraphOutput(output.Name);
    }

    private void AddGraphInput(string name)
    {
        var shape = _values[name].Shape;
        var perm = shape.Length == 4 && _spec.Layout == TfliteLayout.Nhwc ? Nchw2Nhwc : Identity(shape.Length);
        var value = new Value { Perm = perm, Shape = shape };
        var type = ElementTypeOf(_values[name]);
        // int8 I/O: the input is the quantized tensor its QuantizeLinear consumers would have made.
        var quantizers = Consumers(name);
        if (_spec.Io == TfliteIo.Int8 && type == TfliteType.Float32 && quantizers.Count > 0
            && quantizers.All(q => q.OpType == "QuantizeLinear") && QuantParams(quantizers[0]) is { } p
            && quantizers.All(q => p.SameAs(QuantParams(q))))
            value.Quant = Model.AddTensor(name, value.TfliteShape, TfliteType.Int8, quantization: p);
        else
            value.Float = Model.AddTensor(name, value.TfliteShape, type);
        _map[name] = value;
        Model.Inputs.Add((name, (value.Quant ?? value.Float)!.Index));
    }

    private void AddGraphOutput(string name)
    {
        if (!_map.TryGetValue(name, out var value))
            throw Unsupported($"graph output '{name}' is a constant; TFLite models compute their outputs");
        value = value.Rank == 4 && _spec.Layout == TfliteLayout.Nhwc ? InLayout(value, Nchw2Nhwc) : Plain(value);
        var tensor = _spec.Io == TfliteIo.Int8 && value.Quant is not null ? value.Quant : FloatOf(value);
        if (Model.Outputs.Any(o => o.Tensor == tensor.Index) || Model.Inputs.Any(i => i.Tensor == tensor.Index))
            throw Unsupported($"graph output '{name}' is the same tensor as another input or output");
        tensor.Name = name;
        Model.Outputs.Add((name, tensor.Index));
    }

    // ---- constants ----------------------------------------------------------------------------------------------

    /// <summary>
    /// A tensor is constant when it is an initializer, a Constant, a Shape (shapes are static here), or computed only
    /// from constants. A DequantizeLinear of an initializer is one too, kept as quantized data by <see cref="QuantConst"/>.
    /// </summary>
    private void FindConstants()
    {
        foreach (var name in _initializers.Keys) _constants.Add(name);
        foreach (var node in _graph.Node)
        {
            var constant = node.OpType is "Constant" or "Shape" or "Size"
                || node.Input.Count > 0 && node.Input.All(i => i.Length == 0 || _constants.Contains(i))
                   && node.OpType is not ("RandomNormal" or "RandomUniform" or "RandomNormalLike" or "RandomUniformLike" or "Multinomial");
            if (constant)
                foreach (var o in node.Output.Where(o => o.Length > 0 && _values.ContainsKey(o))) _constants.Add(o);
        }
    }

    /// <summary>
    /// GELU written out by an exporter, x · 0.5 · (1 + erf(x / √2)) in either order of its multiplications, becomes one
    /// TFLite GELU: TFLite has no erf. Records the last Mul → x and marks the other nodes of the pattern as done.
    /// </summary>
    private void FindGelus()
    {
        bool Near(string name, double value) => IsConst(name) && ConstArray(name).Length == 1 && Math.Abs(ConstArray(name).ToDoubles()[0] - value) < 1e-4;
        NodeProto? Only(string tensor) => Consumers(tensor) is [var c] && !_graphOutputs.Contains(tensor) ? c : null;
        string? Other(NodeProto node, string input) => node.Input.Count == 2 ? node.Input[0] == input ? node.Input[1] : node.Input[1] == input ? node.Input[0] : null : null;
        foreach (var erf in _graph.Node.Where(n => n.OpType == "Erf"))
        {
            if (!_producer.TryGetValue(erf.Input[0], out var scale)) continue;
            string? x = scale.OpType switch
            {
                "Div" when Near(scale.Input[1], Math.Sqrt(2)) => scale.Input[0],
                "Mul" when Near(scale.Input[1], 1 / Math.Sqrt(2)) => scale.Input[0],
                "Mul" when Near(scale.Input[0], 1 / Math.Sqrt(2)) => scale.Input[1],
                _ => null,
            };
            if (x is null || Only(erf.Input[0]) != erf || Only(erf.Output[0]) is not { OpType: "Add" } plusOne
                || !Near(Other(plusOne, erf.Output[0]) ?? "", 1) || Only(plusOne.Output[0]) is not { OpType: "Mul" } times)
                continue;
            var factor = Other(times, plusOne.Output[0]);
            NodeProto? last = null, half = null;
            if (factor == x && Only(times.Output[0]) is { OpType: "Mul" } m && Near(Other(m, times.Output[0]) ?? "", 0.5))
                last = m;                                                            // ((1 + erf) · x) · 0.5
            else if (factor is not null && _producer.TryGetValue(factor, out var h) && h.OpType == "Mul" && Only(factor) == times
                     && (h.Input[0] == x && Near(h.Input[1], 0.5) || h.Input[1] == x && Near(h.Input[0], 0.5)))
                (last, half) = (times, h);                                           // (x · 0.5) · (1 + erf)
            if (last is null) continue;
            _gelus[last] = x;
            foreach (var n in new[] { scale, erf, plusOne, times, half }.Where(n => n is not null && n != last)) _fused.Add(n!);
        }
    }

    private bool IsConst(string name) => name.Length > 0 && _constants.Contains(name);

    private NdArray ConstArray(string name) =>
        _values.TryGetValue(name, out var v) ? v : throw Unsupported($"no value for constant '{name}'");

    private float[] ConstFloats(string name) => ConstArray(name).ToDoubles().Select(d => (float)d).ToArray();

    private long[] ConstInts(string name) => ConstArray(name).ToDoubles().Select(d => (long)d).ToArray();

    private float[] RequireConstFloats(int input, string what)
    {
        var name = _node!.Input[input];
        return IsConst(name) ? ConstFloats(name) : throw Unsupported($"its {what} is computed at run time; TFLite needs it constant");
    }

    /// <summary>A float constant as a TFLite tensor (float16 + DEQUANTIZE for an fp16 model's weights).</summary>
    private TfliteTensor FloatConstant(string name, int[] shape, float[] values, bool weight = false)
    {
        if (weight && _halfWeights && values.Length >= 16)
        {
            var half = Model.AddTensor(name + "_fp16", shape, TfliteType.Float16, Bytes(Array.ConvertAll(values, v => (Half)v)));
            var widened = Model.AddTensor(name, shape, TfliteType.Float32);
            Model.AddOperator(TfliteOp.Dequantize, [half.Index], [widened.Index], TfliteOptions.Empty(TfliteOptionsType.Dequantize));
            return widened;
        }
        return Model.AddTensor(name, shape, TfliteType.Float32, Bytes(values));
    }

    private TfliteTensor IntConstant(string name, int[] values) =>
        Model.AddTensor(name, [values.Length], TfliteType.Int32, Bytes(values));

    /// <summary>An ONNX constant as an operand of an op whose other operands have axis order <paramref name="perm"/>.</summary>
    private Value ConstValue(string name, int rank, int[] perm)
    {
        var array = ConstArray(name);
        // ONNX broadcasting aligns from the right: pad with leading ones to the operation's rank, then reorder.
        var shape = Enumerable.Repeat(1L, rank - array.Shape.Length).Concat(array.Shape).ToArray();
        var values = array.ToDoubles().Select(d => (float)d).ToArray();
        var (data, tshape) = Permute(values, shape, perm);
        var value = new Value { Perm = perm, Shape = shape };
        value.Float = FloatConstant(name, tshape.Select(d => (int)d).ToArray(), data, weight: true);
        return value;
    }

    // ---- layouts ------------------------------------------------------------------------------------------------

    private static int[] Identity(int rank) => Enumerable.Range(0, rank).ToArray();

    private static int[] Inverse(int[] perm)
    {
        var inverse = new int[perm.Length];
        for (var i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
        return inverse;
    }

    /// <summary>The TFLite axis that holds ONNX axis <paramref name="onnxAxis"/> (negative axes count from the end).</summary>
    private static int TfliteAxis(Value value, long onnxAxis) =>
        Array.IndexOf(value.Perm, (int)(onnxAxis < 0 ? onnxAxis + value.Rank : onnxAxis));

    private Value Plain(Value value) => value.IsPlain ? value : InLayout(value, Identity(value.Rank));

    /// <summary>The value with TFLite axis i holding ONNX axis <paramref name="perm"/>[i]: one TRANSPOSE when it differs.</summary>
    private Value InLayout(Value value, int[] perm)
    {
        if (value.Perm.SequenceEqual(perm)) return value;
        // out axis j = ONNX axis perm[j] = in axis (position of perm[j] in value.Perm).
        var transpose = perm.Select(p => Array.IndexOf(value.Perm, p)).ToArray();
        var result = new Value { Perm = perm, Shape = value.Shape };
        // An int8 value stays int8: in a QDQ model that is the value the ONNX graph computes.
        var quantized = value.Quant is not null;
        var source = quantized ? value.Quant! : value.Float!;
        var output = Model.AddTensor(source.Name + "_t", result.TfliteShape, source.Type, quantization: source.Quantization);
        Model.AddOperator(TfliteOp.Transpose, [source.Index, IntConstant(source.Name + "_perm", transpose).Index], [output.Index],
            TfliteOptions.Empty(TfliteOptionsType.Transpose));
        if (quantized) result.Quant = output; else result.Float = output;
        return result;
    }

    // ---- quantization -------------------------------------------------------------------------------------------

    /// <summary>The float tensor of a value: a DEQUANTIZE of its int8 tensor when it only has that.</summary>
    private TfliteTensor FloatOf(Value value)
    {
        if (value.Float is not null) return value.Float;
        var q = value.Quant!;
        value.Float = Model.AddTensor(q.Name + "_float", q.Shape, TfliteType.Float32);
        Model.AddOperator(TfliteOp.Dequantize, [q.Index], [value.Float.Index], TfliteOptions.Empty(TfliteOptionsType.Dequantize));
        return value.Float;
    }

    /// <summary>An int8 tensor with <paramref name="wanted"/> parameters: the value's own, or a QUANTIZE (requantize) of it.</summary>
    private TfliteTensor QuantOf(Value value, TfliteQuantization wanted)
    {
        if (value.Quant is { } q && wanted.SameAs(q.Quantization)) return q;
        var source = value.Quant ?? value.Float!;
        var output = Model.AddTensor(source.Name + "_q", source.Shape, TfliteType.Int8, quantization: wanted);
        Model.AddOperator(TfliteOp.Quantize, [source.Index], [output.Index], TfliteOptions.Empty(TfliteOptionsType.Quantize));
        if (value.Quant is null) value.Quant = output;
        return output;
    }

    /// <summary>The int8 parameters of a QuantizeLinear node's output, per tensor (TFLite activations are per tensor).</summary>
    private TfliteQuantization? QuantParams(NodeProto quantize)
    {
        if (!IsConst(quantize.Input[1])) return null;
        var scale = ConstFloats(quantize.Input[1]);
        if (scale.Length != 1) return null;
        var zeroPoint = quantize.Input.Count > 2 && quantize.Input[2].Length > 0 ? ConstArray(quantize.Input[2]) : null;
        var zp = zeroPoint is null ? 0 : (long)zeroPoint.ToDoubles()[0];
        // uint8 activations become int8 with the zero point moved by 128: the same real values.
        if (zeroPoint?.ElementType == TensorElementType.UInt8) zp -= 128;
        else if (zeroPoint is not null && zeroPoint.ElementType != TensorElementType.Int8) return null;
        return TfliteQuantization.PerTensor(scale[0], zp);
    }

    /// <summary>When every consumer of <paramref name="tensor"/> is a QuantizeLinear with the same parameters, those parameters.</summary>
    private TfliteQuantization? OutputParams(string tensor)
    {
        var consumers = Consumers(tensor);
        if (consumers.Count == 0 || _graphOutputs.Contains(tensor) || !consumers.All(c => c.OpType == "QuantizeLinear")) return null;
        var first = QuantParams(consumers[0]);
        return first is not null && consumers.All(c => first.SameAs(QuantParams(c))) ? first : null;
    }

    /// <summary>A DequantizeLinear of an integer initializer: the integers, their scales and zero points, and the axis.</summary>
    private sealed record QuantizedConstant(long[] Shape, int[] Values, float[] Scales, long[] ZeroPoints, int Axis);

    private QuantizedConstant? QuantConst(string name)
    {
        if (!_producer.TryGetValue(name, out var dq) || dq.OpType != "DequantizeLinear" || !_initializers.ContainsKey(dq.Input[0])
            || !IsConst(dq.Input[1]))
            return null;
        var data = ConstArray(dq.Input[0]);
        if (data.ElementType is not (TensorElementType.Int8 or TensorElementType.UInt8 or TensorElementType.Int32)) return null;
        var zeroPoints = dq.Input.Count > 2 && dq.Input[2].Length > 0 ? ConstInts(dq.Input[2]) : new long[ConstFloats(dq.Input[1]).Length];
        var axis = (int)(Attr(dq, "axis")?.I ?? 1);
        if (axis < 0) axis += data.Shape.Length;
        return new QuantizedConstant(data.Shape, data.ToDoubles().Select(d => (int)d).ToArray(), ConstFloats(dq.Input[1]), zeroPoints, axis);
    }

    private List<NodeProto> Consumers(string tensor) => _consumers.GetValueOrDefault(tensor) ?? [];

    // ---- helpers ------------------------------------------------------------------------------------------------

    private Value Input(int index)
    {
        var name = _node!.Input[index];
        if (_map.TryGetValue(name, out var value)) return value;
        if (IsConst(name)) throw Unsupported($"input '{name}' is a constant where a computed tensor is expected");
        throw Unsupported($"input '{name}' has no converted producer");
    }

    private long[] ShapeOf(string name) =>
        _values.TryGetValue(name, out var v) ? v.Shape
        : _initializers.TryGetValue(name, out var t) ? t.Dims.ToArray()
        : throw Unsupported($"no shape for '{name}'");

    /// <summary>A new value for ONNX tensor <paramref name="name"/>: a float or int8 TFLite tensor in axis order <paramref name="perm"/>.</summary>
    private Value NewValue(string name, int[] perm, TfliteQuantization? quant = null)
    {
        var value = new Value { Perm = perm, Shape = ShapeOf(name) };
        if (quant is not null) value.Quant = Model.AddTensor(name, value.TfliteShape, TfliteType.Int8, quantization: quant);
        else value.Float = Model.AddTensor(name, value.TfliteShape, TfliteType.Float32);
        _map[name] = value;
        return value;
    }

    /// <summary>Registers a QuantizeLinear consumer of an int8-produced tensor as the same tensor (no op needed).</summary>
    private void AliasQuantizers(string tensor, Value value)
    {
        foreach (var q in Consumers(tensor).Where(c => c.OpType == "QuantizeLinear"))
        {
            _map[q.Output[0]] = value;
            _fused.Add(q);
        }
    }

    private static TfliteType ElementTypeOf(NdArray array) => array.ElementType switch
    {
        TensorElementType.Float32 or TensorElementType.Float16 or TensorElementType.Float64 => TfliteType.Float32,
        TensorElementType.Int64 or TensorElementType.Int32 => TfliteType.Int32,
        TensorElementType.Int8 => TfliteType.Int8,
        TensorElementType.UInt8 => TfliteType.UInt8,
        TensorElementType.Bool => TfliteType.Bool,
        var t => throw new NotSupportedException($"element type {t}"),
    };

    private static AttributeProto? Attr(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    private long AttrInt(string name, long fallback) => Attr(_node!, name)?.I ?? fallback;

    private float AttrFloat(string name, float fallback) => Attr(_node!, name) is { } a ? a.F : fallback;

    private string AttrString(string name, string fallback) => Attr(_node!, name) is { } a ? a.S.ToStringUtf8() : fallback;

    private long[] AttrInts(string name, long[] fallback) => Attr(_node!, name) is { } a ? a.Ints.ToArray() : fallback;

    internal static byte[] Bytes<T>(T[] values) where T : struct => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>Reorders a row-major array: result axis i = source axis perm[i].</summary>
    internal static (T[] Data, long[] Shape) Permute<T>(T[] data, long[] shape, int[] perm)
    {
        var rank = shape.Length;
        var outShape = perm.Select(p => shape[p]).ToArray();
        if (perm.Select((p, i) => p == i).All(b => b)) return ((T[])data.Clone(), outShape);
        var inStrides = new long[rank];
        for (long i = rank - 1, s = 1; i >= 0; i--) { inStrides[i] = s; s *= shape[i]; }
        var result = new T[data.Length];
        var index = new long[rank];
        for (long o = 0; o < result.LongLength; o++)
        {
            long source = 0;
            for (var d = 0; d < rank; d++) source += index[d] * inStrides[perm[d]];
            result[o] = data[source];
            for (var d = rank - 1; d >= 0; d--)
            {
                if (++index[d] < outShape[d]) break;
                index[d] = 0;
            }
        }
        return (result, outShape);
    }

    private ModelBuildException Unsupported(string why)
    {
        var where = _node is null ? "" : $"node '{(_node.Name.Length > 0 ? _node.Name : _node.Output.FirstOrDefault())}' ({_node.OpType}): ";
        return new ModelBuildException(DiagnosticCodes.TfliteUnsupported, $"TFLite export: {where}{why}", _location);
    }
}
