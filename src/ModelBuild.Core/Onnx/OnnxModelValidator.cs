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
                    Fail($"'{modelPath}': node {Describe(node, index)} reads '{input}', which no earlier node, input or initializer defines", location);
            foreach (var output in node.Output)
                known.Add(output);
        }

        foreach (var output in graph.Output)
            if (!known.Contains(output.Name))
                Fail($"'{modelPath}': graph output '{output.Name}' is produced by no node", location);

        CheckExternalData(graph, modelPath, location);
    }

    /// <summary>External weights must live beside the model: a path that climbs out could read any file.</summary>
    private static void CheckExternalData(GraphProto graph, string modelPath, SourceLocation location)
    {
        var modelDir = Path.GetFullPath(Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
        foreach (var tensor in graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
        {
            var file = tensor.ExternalData.FirstOrDefault(e => e.Key == "location")?.Value;
            if (string.IsNullOrEmpty(file) || Path.IsPathRooted(file))
                Fail($"'{modelPath}': initializer '{tensor.Name}' has an external-data location that is missing or absolute", location);
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
