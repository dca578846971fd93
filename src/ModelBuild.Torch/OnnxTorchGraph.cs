using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using ModelBuild.Passes.Pruning;
using Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ModelBuild.Torch;

/// <summary>
/// An ONNX graph run by libtorch with autograd, for fine-tuning: the op families of CNNs and MLPs (Conv, Gemm,
/// MatMul, BatchNormalization, activations, pooling, Flatten/Reshape, Concat, elementwise arithmetic).
/// Conv/Gemm/MatMul weights and biases and BatchNorm scale/shift are trainable parameters. In <see cref="Training"/>
/// mode BatchNormalization normalizes with batch statistics and updates its running mean and variance, as PyTorch's
/// <c>model.train()</c> does: after pruning, the layers behind a removed channel see different activations, and
/// statistics recorded on the unpruned model would mis-normalize them. <see cref="WriteBack"/> stores parameters and
/// running statistics into the model's initializers again. Given <see cref="QatTraining"/> options, the graph may be a QDQ
/// model: its QuantizeLinear/DequantizeLinear nodes run as fake quantization (<see cref="FakeQuantization"/>), for
/// quantization-aware training.
/// </summary>
internal sealed class OnnxTorchGraph : IDisposable
{
    private static readonly HashSet<string> Supported = new(StringComparer.Ordinal)
    {
        "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Identity", "Dropout",
        "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Concat", "Add", "Sub", "Mul", "Div", "Softmax", "LogSoftmax",
    };

    private readonly ModelProto _model;
    private readonly GraphEditor _g;
    private readonly Dictionary<string, Tensor> _constants = new(StringComparer.Ordinal);
    private readonly HashSet<string> _runningStatistics = new(StringComparer.Ordinal);
    private readonly FakeQuantization? _fakeQuant;
    private readonly HashSet<string> _fakeQuantParameters = new(StringComparer.Ordinal);

    /// <summary>BatchNormalization uses batch statistics and updates its running ones (see the class summary).</summary>
    public bool Training { get; set; }

    public OnnxTorchGraph(ModelProto model, SourceLocation location, QatTraining? quantized = null)
    {
        _model = model;
        _g = new GraphEditor(model);
        _g.PromoteConstants();
        _g.TopologicalSort();
        var unsupported = model.Graph.Node
            .Where(n => !(Supported.Contains(n.OpType) || quantized is not null && n.OpType is "QuantizeLinear" or "DequantizeLinear")
                || n.Domain is not ("" or "ai.onnx"))
            .Select(n => n.OpType).Distinct().ToList();
        if (unsupported.Count > 0)
            throw new ModelBuildException(DiagnosticCodes.PassFailed,
                $"fine-tuning runs CNN/MLP graphs (Conv, Gemm, MatMul, BatchNormalization, activations, pooling, Flatten, Reshape, Concat, " +
                $"arithmetic); this model also has {string.Join(", ", unsupported)}", location);
        foreach (var node in model.Graph.Node)
            if (GraphEditor.Attr(node, "auto_pad") is { } ap && ap.S.ToStringUtf8() is not ("NOTSET" or "VALID" or ""))
                throw new ModelBuildException(DiagnosticCodes.PassFailed, $"fine-tuning does not support auto_pad " +
                    $"{ap.S.ToStringUtf8()} on '{node.Name}'", location);

        var trainable = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in model.Graph.Node)
        {
            int[] slots = node.OpType switch { "Conv" or "Gemm" => [1, 2], "MatMul" => [1], "BatchNormalization" => [1, 2], _ => [] };
            foreach (var s in slots)
                if (node.Input.Count > s && _g.Initializers.TryGetValue(node.Input[s], out var t) && t.DataType == TensorData.Float)
                    trainable.Add(t.Name);
            if (node.OpType == "BatchNormalization")
                foreach (var s in new[] { 3, 4 })
                    if (_g.Initializers.TryGetValue(node.Input[s], out var t) && t.DataType == TensorData.Float) _runningStatistics.Add(t.Name);
        }
        if (quantized is not null)
        {
            _fakeQuant = new FakeQuantization(_g, quantized);
            foreach (var (name, p) in _fakeQuant.Parameters)
            {
                Parameters[name] = p;
                _fakeQuantParameters.Add(name);
            }
        }
        foreach (var t in model.Graph.Initializer)
        {
            if (trainable.Contains(t.Name))
                Parameters[t.Name] = new Parameter(tensor(TensorData.ToFloats(t), t.Dims.ToArray()), requires_grad: true);
            else if (t.DataType is TensorData.Int64 or TensorData.Int32)
                _constants[t.Name] = tensor(TensorData.ToInt64s(t), t.Dims.ToArray());
            else if (t.DataType is TensorData.Float or TensorData.Double or TensorData.Float16)
                _constants[t.Name] = tensor(TensorData.ToFloats(t), t.Dims.ToArray());
        }
    }

    public Dictionary<string, Parameter> Parameters { get; } = new(StringComparer.Ordinal);

    /// <summary>The keys of <see cref="Parameters"/> that are learned activation scales (quantization-aware training).</summary>
    public IReadOnlySet<string> ScaleParameters => _fakeQuant?.ScaleNames.ToHashSet(StringComparer.Ordinal) ?? [];

    /// <summary>The first graph output for the given inputs (by name).</summary>
    public Tensor Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        var env = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        Tensor Get(string name) => env.TryGetValue(name, out var t) ? t
            : inputs.TryGetValue(name, out t) ? t
            : Parameters.TryGetValue(name, out var p) ? p
            : _constants[name];
        foreach (var node in _model.Graph.Node)
        {
            if (node.OpType == "DequantizeLinear" && _fakeQuant is not null)
            {
                // A weight's or bias's DQ yields its trained float values; an activation's passes its Q's fake-quantized values on.
                env[node.Output[0]] = _fakeQuant.OwnsInitializer(node) ? _fakeQuant.DequantizeInitializer(node) : Get(node.Input[0]);
                continue;
            }
            var x = node.Input.Count > 0 && node.Input[0].Length > 0 ? Get(node.Input[0]) : null!;
            Tensor? Opt(int i) => node.Input.Count > i && node.Input[i].Length > 0 ? Get(node.Input[i]) : null;
            env[node.Output[0]] = node.OpType switch
            {
                "Conv" => Conv(node, x, Get(node.Input[1]), Opt(2)),
                "Gemm" => Gemm(node, x, Get(node.Input[1]), Opt(2)),
                "MatMul" => matmul(x, Get(node.Input[1])),
                "BatchNormalization" => F.batch_norm(x, Get(node.Input[3]), Get(node.Input[4]), Get(node.Input[1]), Get(node.Input[2]),
                    Training && _runningStatistics.Contains(node.Input[3]) && _runningStatistics.Contains(node.Input[4]),
                    1 - GraphEditor.AttrFloat(node, "momentum", 0.9f), GraphEditor.AttrFloat(node, "epsilon", 1e-5f)),
                "Relu" => F.relu(x),
                "LeakyRelu" => F.leaky_relu(x, GraphEditor.AttrFloat(node, "alpha", 0.01f)),
                "Sigmoid" => x.sigmoid(),
                "Tanh" => x.tanh(),
                "Clip" => Clip(node, x, Opt(1), Opt(2)),
                "Identity" or "Dropout" => x.alias(),
                "MaxPool" => F.max_pool2d(x, Ints(node, "kernel_shape"), Ints(node, "strides", 1, 2),
                    SymmetricPads(node), Ints(node, "dilations", 1, 2),
                    GraphEditor.AttrInt(node, "ceil_mode", 0) != 0),
                "AveragePool" => F.avg_pool2d(x, Ints(node, "kernel_shape"), Ints(node, "strides", 1, 2), SymmetricPads(node),
                    GraphEditor.AttrInt(node, "ceil_mode", 0) != 0, GraphEditor.AttrInt(node, "count_include_pad", 0) != 0),
                "GlobalAveragePool" => x.mean(Enumerable.Range(2, (int)x.dim() - 2).Select(d => (long)d).ToArray(), keepdim: true),
                "Flatten" => Flatten(x, GraphEditor.AttrInt(node, "axis", 1)),
                "Reshape" => Reshape(x, Get(node.Input[1])),
                "Concat" => cat(node.Input.Select(Get).ToList(), GraphEditor.AttrInt(node, "axis", 0)),
                "Add" => x + Get(node.Input[1]),
                "Sub" => x - Get(node.Input[1]),
                "Mul" => x * Get(node.Input[1]),
                "Div" => x / Get(node.Input[1]),
                "Softmax" => F.softmax(x, GraphEditor.AttrInt(node, "axis", -1)),
                "LogSoftmax" => F.log_softmax(x, GraphEditor.AttrInt(node, "axis", -1)),
                "QuantizeLinear" => _fakeQuant!.Quantize(node, x),
                _ => throw new InvalidOperationException(node.OpType),
            };
        }
        return env[_model.Graph.Output[0].Name];
    }

    /// <summary>Stores the trained parameters into the model's initializers (same names, same shapes).</summary>
    public void WriteBack()
    {
        _fakeQuant?.WriteBack();
        var trained = Parameters.Where(p => !_fakeQuantParameters.Contains(p.Key)).Select(p => (p.Key, (Tensor)p.Value)).Concat(_runningStatistics.Select(n => (n, _constants[n])));
        foreach (var (name, p) in trained)
        {
            using var c = p.detach().cpu().contiguous();
            var t = _g.Initializers[name];
            var fresh = TensorData.FromFloats(name, t.Dims, c.data<float>().ToArray());
            t.FloatData.Clear();
            t.RawData = fresh.RawData;
        }
    }

    private static Tensor Conv(NodeProto node, Tensor x, Tensor w, Tensor? b)
    {
        var spatial = (int)w.dim() - 2;
        var (pads, input) = Padded(node, x, spatial);
        var strides = Ints(node, "strides", 1, spatial);
        var dilations = Ints(node, "dilations", 1, spatial);
        var groups = GraphEditor.AttrInt(node, "group", 1);
        return spatial switch
        {
            1 => F.conv1d(input, w, b, strides[0], pads[0], dilations[0], groups),
            2 => F.conv2d(input, w, b, strides, pads, dilations, groups),
            _ => throw new NotSupportedException($"Conv with {spatial} spatial axes"),
        };
    }

    /// <summary>Symmetric pads go to the op; uneven ones are applied first with a zero pad.</summary>
    private static (long[] Pads, Tensor Input) Padded(NodeProto node, Tensor x, int spatial)
    {
        var pads = Ints(node, "pads", 0, 2 * spatial);
        var begin = pads.Take(spatial).ToArray();
        var end = pads.Skip(spatial).ToArray();
        if (begin.SequenceEqual(end)) return (begin, x);
        var torchPads = Enumerable.Range(0, spatial).Reverse().SelectMany(d => new[] { begin[d], end[d] }).ToArray();
        return (new long[spatial], F.pad(x, torchPads));
    }

    private static long[] SymmetricPads(NodeProto node)
    {
        var pads = Ints(node, "pads", 0, 4);
        if (!pads.Take(2).SequenceEqual(pads.Skip(2)))
            throw new NotSupportedException($"uneven pooling pads on '{node.Name}'");
        return pads.Take(2).ToArray();
    }

    private static Tensor Gemm(NodeProto node, Tensor a, Tensor b, Tensor? c)
    {
        if (GraphEditor.AttrInt(node, "transA", 0) != 0) a = a.t();
        if (GraphEditor.AttrInt(node, "transB", 0) != 0) b = b.t();
        var y = matmul(a, b);
        var alpha = GraphEditor.AttrFloat(node, "alpha", 1f);
        if (alpha != 1f) y = y * alpha;
        if (c is not null)
        {
            var beta = GraphEditor.AttrFloat(node, "beta", 1f);
            y = y + (beta == 1f ? c : c * beta);
        }
        return y;
    }

    private static Tensor Clip(NodeProto node, Tensor x, Tensor? min, Tensor? max)
    {
        // Opset ≥ 11 passes min/max as inputs, older opsets as attributes.
        var lo = min is not null ? min.item<float>() : GraphEditor.AttrFloat(node, "min", float.NegativeInfinity);
        var hi = max is not null ? max.item<float>() : GraphEditor.AttrFloat(node, "max", float.PositiveInfinity);
        return x.clamp(lo, hi);
    }

    private static Tensor Flatten(Tensor x, long axis)
    {
        if (axis < 0) axis += x.dim();
        var outer = x.shape.Take((int)axis).Aggregate(1L, (p, d) => p * d);
        return x.reshape(outer, -1);
    }

    private static Tensor Reshape(Tensor x, Tensor shape)
    {
        var dims = shape.data<long>().ToArray();
        for (var i = 0; i < dims.Length; i++)
            if (dims[i] == 0) dims[i] = x.shape[i]; // ONNX: 0 copies the input's dimension
        return x.reshape(dims);
    }

    private static long[] Ints(NodeProto node, string name, long fallback = 0, int count = 0) =>
        GraphEditor.Attr(node, name) is { } a ? a.Ints.ToArray() : Enumerable.Repeat(fallback, count).ToArray();

    public void Dispose()
    {
        _fakeQuant?.Dispose();
        foreach (var p in Parameters.Where(p => !_fakeQuantParameters.Contains(p.Key))) p.Value.Dispose();
        foreach (var c in _constants.Values) c.Dispose();
    }
}
