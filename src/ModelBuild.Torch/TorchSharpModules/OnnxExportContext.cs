using ModelBuild.TorchScript.Conversion;
using static TorchSharp.torch;

namespace ModelBuild.Torch;

/// <summary>
/// What an <see cref="IOnnxExportable"/> module builds its graph with: its submodules (<see cref="Call"/>), the ops
/// the TorchScript converter knows (<see cref="Op"/>, by aten name with aten's argument order) and its own tensors
/// (<see cref="Weight"/>). Values are <see cref="TensorValue"/>s: ONNX value names with their type and shape.
/// </summary>
public sealed class OnnxExportContext
{
    private readonly OpRegistry _ops = OpRegistry.CreateDefault();
    private readonly Dictionary<IntPtr, TensorValue> _weights = new();
    private readonly Stack<(string Path, nn.Module Module)> _path = new();

    internal OnnxExportContext(GraphBuilder graph)
    {
        Graph = graph;
        Emit = new Emitter(graph);
    }

    public GraphBuilder Graph { get; }

    /// <summary>Lower-level building blocks (Node, Binary, Reshape, …) for what <see cref="Op"/> does not cover.</summary>
    public Emitter Emit { get; }

    public int Opset => Graph.Opset;

    /// <summary>Where export is in the module tree ("model.features.3"), for messages.</summary>
    public string CurrentPath => _path.Count == 0 ? "model" : _path.Peek().Path;

    /// <summary>Exports a submodule for these inputs and returns its first output.</summary>
    public TensorValue Call(nn.Module module, params TensorValue[] inputs) => CallAll(module, inputs)[0];

    /// <summary>
    /// Exports a submodule (a standard layer, a Sequential, or another <see cref="IOnnxExportable"/>); all its outputs, flattened in
    /// order (LSTM: output, h, c).
    /// </summary>
    public IReadOnlyList<TensorValue> CallAll(nn.Module module, params TensorValue[] inputs)
    {
        var path = ChildPath(module);
        _path.Push((path, module));
        try
        {
            return ModuleExporter.Export(this, module, inputs);
        }
        catch (ConversionError e) when (e.File is null)
        {
            e.File = $"{path} ({module.GetType().FullName})"; // the innermost module names the failure
            throw;
        }
        finally { _path.Pop(); }
    }

    /// <summary>
    /// One op by its aten name (<c>"relu"</c>, <c>"add"</c>, <c>"flatten"</c>, <c>"linear"</c>, …) with aten's
    /// positional arguments; TorchSharp tensors become weights, int/float become Python numbers, arrays lists.
    /// Returns the first tensor of the result.
    /// </summary>
    public TensorValue Op(string op, params object?[] args) => OpAll(op, args)[0];

    /// <summary>Like <see cref="Op"/>, but every tensor of the result (chunk, split, max with dim, lstm…).</summary>
    public IReadOnlyList<TensorValue> OpAll(string op, params object?[] args) =>
        TorchScriptToOnnx.Flatten(Invoke(op, args)).ToList();

    /// <summary>The raw result of an op: a tensor, a tuple of them, or a Python-level value (sizes).</summary>
    public object? Invoke(string op, params object?[] args)
    {
        var name = op.Contains('.') ? op : "torch." + op;
        var lowering = _ops.Find(name) ?? throw new ConversionError($"unknown op '{op}' (see docs/torchscript-conversion.md for the " +
            $"ops the converter lowers)", op);
        return lowering(new OpCall(name, args.Select(Normalize).ToArray(), new Dictionary<string, object?>(), Emit));
    }

    /// <summary>A tensor of the module (a parameter or buffer) as an ONNX initializer, added once however often it is used.</summary>
    public TensorValue Weight(Tensor tensor, string? name = null)
    {
        if (_weights.TryGetValue(tensor.Handle, out var known)) return known;
        var value = Graph.AddInitializer(TorchTensors.ToNdArray(tensor), name ?? NameOf(tensor) ?? "weight");
        _weights[tensor.Handle] = value;
        return value;
    }

    internal object? Normalize(object? arg) => arg switch
    {
        Tensor t => Weight(t),
        int i => (long)i,
        float f => (double)f,
        long[] l => l.Select(v => (object?)v).ToList(),
        int[] n => n.Select(v => (object?)(long)v).ToList(),
        double[] d => d.Select(v => (object?)v).ToList(),
        IEnumerable<TensorValue> list => list.Cast<object?>().ToList(),
        _ => arg,
    };

    private string ChildPath(nn.Module module)
    {
        if (_path.Count == 0) return "model";
        var (parentPath, parent) = _path.Peek();
        var name = parent.named_children().FirstOrDefault(c => ReferenceEquals(c.module, module)).name;
        return $"{parentPath}.{name ?? module.GetName()}";
    }

    /// <summary>"features.0.weight" for a parameter of the module being exported, when it can be found.</summary>
    private string? NameOf(Tensor tensor)
    {
        if (_path.Count == 0) return null;
        var (path, module) = _path.Peek();
        foreach (var (name, p) in module.named_parameters())
            if (p.Handle == tensor.Handle) return $"{path}.{name}";
        foreach (var (name, b) in module.named_buffers())
            if (b.Handle == tensor.Handle) return $"{path}.{name}";
        return null;
    }
}
