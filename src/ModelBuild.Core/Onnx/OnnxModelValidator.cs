using ModelBuild.Diagnostics;
using Onnx;

namespace ModelBuild.Onnx;

/// <summary>
/// Structural checks that catch broken or hostile graphs with a clear message before ONNX Runtime sees them:
/// opsets, dangling edges, external-data paths. ONNX Runtime then checks op semantics when it opens a session.
/// </summary>
public static class OnnxModelValidator
{
    /// <summary>Opsets of the default domain that ModelBuild has been tested against.</summary>
    public const int MinOpset = 7;
    public const int MaxOpset = 22;

    public static void Validate(ModelProto model, string modelPath, SourceLocation location)
    {
        var graph = model.Graph;
        var defaultOpset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        if (defaultOpset is null)
            Fail($"'{modelPath}' imports no version of the default ONNX operator set", location);
        else if (defaultOpset.Version < MinOpset || defaultOpset.Version > MaxOpset)
            Fail($"'{modelPath}' uses ONNX opset {defaultOpset.Version}; supported opsets are {MinOpset} to {MaxOpset}", location);

        if (graph.Output.Count == 0)
            Fail($"'{modelPath}' has a graph with no outputs", location);

        var known = new HashSet<string>(StringComparer.Ordinal) { "" };
        foreach (var i in graph.Input) known.Add(i.Name);
        foreach (var i in graph.Initializer) known.Add(i.Name);
        foreach (var i in graph.SparseInitializer) known.Add(i.Values?.Name ?? "");

        // ONNX requires nodes in topological order, so one pass finds every undefined input.
        foreach (var (node, index) in graph.Node.Select((n, i) => (n, i)))
        {
            foreach (var input in node.Input)
                if (!known.Contains(input))
                    Fail($"'{modelPath}': node {Describe(node, index)} reads '{input}', which no earlier node, input or initializer defines",
                        location);
            foreach (var output in node.Output)
                known.Add(output);
        }

        foreach (var output in graph.Output)
            if (!known.Contains(output.Name))
                Fail($"'{modelPath}': graph output '{output.Name}' is produced by no node", location);

        CheckExternalData(graph, modelPath, location);
        CheckInitializerSizes(graph, modelPath, location);
    }

    /// <summary>
    /// An initializer's dims are a claim: one that declares terabytes but carries a few bytes would make ONNX Runtime
    /// (or a pass) allocate the claim. Hold every initializer, subgraphs included, to the data it actually holds.
    /// </summary>
    private static void CheckInitializerSizes(GraphProto root, string modelPath, SourceLocation location)
    {
        var graphs = new Stack<GraphProto>();
        graphs.Push(root);
        while (graphs.TryPop(out var graph))
        {
            foreach (var tensor in graph.Initializer) CheckTensorSize(tensor, modelPath, location);
            foreach (var node in graph.Node)
            {
                foreach (var body in GraphEditor.Bodies(node)) graphs.Push(body);
                foreach (var attribute in node.Attribute)
                    if (attribute.T is { } t) CheckTensorSize(t, modelPath, location);
            }
        }
    }

    private static void CheckTensorSize(TensorProto tensor, string modelPath, SourceLocation location)
    {
        long count = 1;
        try
        {
            foreach (var d in tensor.Dims)
            {
                if (d < 0) Fail($"'{modelPath}': tensor '{tensor.Name}' has a negative dimension ({d})", location);
                count = checked(count * d);
            }
        }
        catch (OverflowException)
        {
            Fail($"'{modelPath}': tensor '{tensor.Name}' declares dims [{string.Join(",", tensor.Dims)}], more elements than can exist", location);
        }
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External) return;
        var bits = (TensorProto.Types.DataType)tensor.DataType switch
        {
            TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 32,
            TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64
                or TensorProto.Types.DataType.Complex64 => 64,
            TensorProto.Types.DataType.Complex128 => 128,
            TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Int16
                or TensorProto.Types.DataType.Uint16 => 16,
            TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool => 8,
            _ => 0, // strings, float8/4-bit formats: not checked here; ONNX Runtime checks them
        };
        if (bits == 0) return;
        if (tensor.RawData.Length > 0)
        {
            var expected = count > long.MaxValue / bits ? long.MaxValue : count * bits / 8;
            if (tensor.RawData.Length != expected)
                Fail($"'{modelPath}': tensor '{tensor.Name}' declares dims [{string.Join(",", tensor.Dims)}] ({expected} bytes) but holds " +
                    $"{tensor.RawData.Length} bytes", location);
            return;
        }
        long typed = tensor.FloatData.Count + tensor.Int32Data.Count + tensor.Int64Data.Count + tensor.DoubleData.Count + tensor.Uint64Data.Count;
        var values = (TensorProto.Types.DataType)tensor.DataType is TensorProto.Types.DataType.Complex64 or TensorProto.Types.DataType.Complex128
            ? typed / 2 : typed;
        if (values != count)
            Fail($"'{modelPath}': tensor '{tensor.Name}' declares dims [{string.Join(",", tensor.Dims)}] ({count} values) but holds {values}",
                location);
    }

    /// <summary>External weights must live beside the model: a path that climbs out could read any file.</summary>
    private static void CheckExternalData(GraphProto graph, string modelPath, SourceLocation location)
    {
        var modelDir = Path.GetFullPath(Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
        foreach (var tensor in graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
        {
            var file = tensor.ExternalData.FirstOrDefault(e => e.Key == "location")?.Value;
            if (string.IsNullOrEmpty(file) || Path.IsPathRooted(file) || file.Contains('\0'))
                Fail($"'{modelPath}': initializer '{tensor.Name}' has an external-data location that is missing, absolute or not a path", location);
            var full = Path.GetFullPath(Path.Combine(modelDir, file!));
            if (!full.StartsWith(modelDir + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                Fail($"'{modelPath}': initializer '{tensor.Name}' points outside the model's folder ('{file}')", location);
            if (!File.Exists(full))
                Fail($"'{modelPath}': external data file '{file}' for initializer '{tensor.Name}' does not exist", location);
        }
    }

    private static string Describe(NodeProto node, int index) =>
        string.IsNullOrEmpty(node.Name) ? $"#{index} ({node.OpType})" : $"'{node.Name}' ({node.OpType})";

    private static void Fail(string message, SourceLocation location) =>
        throw new ModelBuildException(DiagnosticCodes.ModelInvalid, message, location);
}
