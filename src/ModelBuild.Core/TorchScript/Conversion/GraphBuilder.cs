using System.Runtime.InteropServices;
using Google.Protobuf;
using ModelBuild.Data;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// Accumulates the ONNX graph: unique value names, nodes, initializers (weights stored once however often the code
/// reads them), cached small constants, and dynamic sizes materialized from shapes.
/// </summary>
public sealed class GraphBuilder(int opset)
{
    private readonly Dictionary<string, int> _nameCounts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _constantCache = new(StringComparer.Ordinal);
    private readonly Dictionary<object, TensorValue> _initializerCache = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, string> _shapeCache = new(StringComparer.Ordinal);

    public int Opset { get; } = opset;
    public GraphProto Graph { get; } = new() { Name = "main" };

    public string FreshName(string hint)
    {
        hint = string.IsNullOrEmpty(hint) ? "v" : hint;
        _nameCounts.TryGetValue(hint, out var n);
        _nameCounts[hint] = n + 1;
        return n == 0 && !_reserved.Contains(hint) ? hint : $"{hint}_{n}";
    }

    private readonly HashSet<string> _reserved = new(StringComparer.Ordinal);

    /// <summary>Graph input and output names must stay exactly as declared: keep node outputs off them.</summary>
    public void Reserve(string name) { _reserved.Add(name); _nameCounts.TryAdd(name, 1); }

    /// <summary>
    /// The attribute path of the module whose code is being converted ("features.0.block.1"; empty at the top): node
    /// names carry it ("features.0.block.1/Conv"), so a report's node names say where in the model a node is.
    /// </summary>
    public string Scope { get; set; } = "";

    public string[] Node(string opType, IReadOnlyList<string> inputs, int outputs = 1,
        IEnumerable<AttributeProto>? attributes = null, string? hint = null)
    {
        var node = new NodeProto { OpType = opType, Name = FreshName(Scope.Length > 0 ? $"{Scope}/{opType}" : "n_" + opType) };
        node.Input.AddRange(inputs);
        var names = new string[outputs];
        for (var i = 0; i < outputs; i++)
        {
            names[i] = FreshName(hint ?? opType.ToLowerInvariant());
            node.Output.Add(names[i]);
        }
        if (attributes is not null) node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return names;
    }

    public string Node1(string opType, IReadOnlyList<string> inputs, params AttributeProto[] attributes) =>
        Node(opType, inputs, 1, attributes)[0];

    /// <summary>A weight from the archive, added once per tensor object.</summary>
    public TensorValue Initializer(object key, NdArray data, string hint)
    {
        if (_initializerCache.TryGetValue(key, out var existing)) return existing;
        var value = AddInitializer(data, hint);
        _initializerCache[key] = value;
        return value;
    }

    public TensorValue AddInitializer(NdArray data, string hint)
    {
        var name = FreshName(hint);
        Graph.Initializer.Add(ToTensorProto(data, name));
        return new TensorValue(name, data.ElementType, data.Shape.Select(SymInt.Of).ToArray(), data);
    }

    /// <summary>Rewrites an initializer's values after an in-place write into a constant (see ConstantView).</summary>
    public void ReplaceInitializer(string name, NdArray data)
    {
        var index = Graph.Initializer.ToList().FindIndex(t => t.Name == name);
        if (index < 0) throw new ConversionError($"in-place write into '{name}', which is not a constant of the graph");
        Graph.Initializer[index] = ToTensorProto(data, name);
    }

    /// <summary>A 1-D int64 constant (axes, shapes, pads), shared between nodes.</summary>
    public string Int64s(params long[] values)
    {
        var key = "i64:" + string.Join(",", values);
        if (_constantCache.TryGetValue(key, out var name)) return name;
        name = AddInitializer(NdArray.Of(values, values.Length), "const_i64").Name;
        _constantCache[key] = name;
        return name;
    }

    /// <summary>A 0-d constant of the given element type.</summary>
    public string Scalar(double value, TensorElementType type)
    {
        var key = $"s:{type}:{value:R}";
        if (_constantCache.TryGetValue(key, out var name)) return name;
        name = AddInitializer(ScalarArray(value, type), "const").Name;
        _constantCache[key] = name;
        return name;
    }

    public static NdArray ScalarArray(double value, TensorElementType type) => type switch
    {
        TensorElementType.Float32 => new NdArray(type, [], new[] { (float)value }),
        TensorElementType.Float64 => new NdArray(type, [], new[] { value }),
        TensorElementType.Float16 => new NdArray(type, [], new[] { (Half)value }),
        TensorElementType.Int64 => new NdArray(type, [], new[] { (long)value }),
        TensorElementType.Int32 => new NdArray(type, [], new[] { (int)value }),
        TensorElementType.UInt8 => new NdArray(type, [], new[] { (byte)value }),
        TensorElementType.Int8 => new NdArray(type, [], new[] { (sbyte)value }),
        TensorElementType.Bool => new NdArray(type, [], new[] { value != 0 }),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>The 1-D [1] int64 tensor holding a size; dynamic sizes are read from their tensor's shape once.</summary>
    public string SizeTensor(SymInt size)
    {
        if (size.IsKnown) return Int64s(size.Value!.Value);
        if (size.Materialized is { } m) return m;
        if (size.SourceTensor is null) throw new InvalidOperationException($"dynamic size {size} has no source");
        var shape = ShapeOf(size.SourceTensor);
        size.Materialized = Node1("Gather", [shape, Int64s(size.Axis)], Attr.Int("axis", 0));
        return size.Materialized;
    }

    public string ShapeOf(string tensor)
    {
        if (_shapeCache.TryGetValue(tensor, out var s)) return s;
        s = Node1("Shape", [tensor]);
        _shapeCache[tensor] = s;
        return s;
    }

    /// <summary>A 1-D int64 shape tensor from sizes: a constant when all are known, else a Concat of pieces.</summary>
    public string ShapeTensor(IReadOnlyList<SymInt> sizes)
    {
        if (sizes.All(s => s.IsKnown)) return Int64s(sizes.Select(s => s.Value!.Value).ToArray());
        var parts = new List<string>();
        var run = new List<long>();
        foreach (var s in sizes)
        {
            if (s.IsKnown) { run.Add(s.Value!.Value); continue; }
            if (run.Count > 0) { parts.Add(Int64s(run.ToArray())); run.Clear(); }
            parts.Add(SizeTensor(s));
        }
        if (run.Count > 0) parts.Add(Int64s(run.ToArray()));
        return parts.Count == 1 ? parts[0] : Node1("Concat", parts, Attr.Int("axis", 0));
    }

    public static TensorProto ToTensorProto(NdArray data, string name)
    {
        var proto = new TensorProto { Name = name, DataType = OnnxTypes.ToOnnx(data.ElementType) };
        proto.Dims.AddRange(data.Shape);
        proto.RawData = data.Data switch
        {
            float[] f => ByteString.CopyFrom(MemoryMarshal.AsBytes(f.AsSpan())),
            double[] d => ByteString.CopyFrom(MemoryMarshal.AsBytes(d.AsSpan())),
            long[] l => ByteString.CopyFrom(MemoryMarshal.AsBytes(l.AsSpan())),
            int[] n => ByteString.CopyFrom(MemoryMarshal.AsBytes(n.AsSpan())),
            Half[] h => ByteString.CopyFrom(MemoryMarshal.AsBytes(h.AsSpan())),
            byte[] b => ByteString.CopyFrom(b),
            sbyte[] sb => ByteString.CopyFrom(MemoryMarshal.AsBytes(sb.AsSpan())),
            bool[] z => ByteString.CopyFrom(z.Select(v => v ? (byte)1 : (byte)0).ToArray()),
            _ => throw new NotSupportedException(data.Data.GetType().Name),
        };
        return proto;
    }
}

/// <summary>Builders for ONNX node attributes.</summary>
public static class Attr
{
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, double value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = (float)value };

    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Tensor(string name, TensorProto value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value };
}
