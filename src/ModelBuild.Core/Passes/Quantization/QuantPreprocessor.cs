using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// What every quantizer needs first: Constant-node weights as initializers, opset 13, BatchNorm folded into Conv,
/// then ONNX Runtime's basic (hardware-independent) optimizer — constant folding and the like — run offline.
/// </summary>
public static class QuantPreprocessor
{
    public static ModelProto Run(string inputPath, string workDirectory, SourceLocation location, bool optimize = true)
    {
        var g = new GraphEditor(OnnxModelFile.Load(inputPath, location));
        g.PromoteConstants();
        return Run(g, workDirectory, location, optimize);
    }

    /// <summary>The same, on a model already loaded with its constants promoted (<see cref="GraphEditor.PromoteConstants"/>).</summary>
    public static ModelProto Run(GraphEditor g, string workDirectory, SourceLocation location, bool optimize = true)
    {
        var model = g.Model;
        OpsetUpgrader.Upgrade(g, location);
        BatchNormFolding.Fold(g);
        g.TopologicalSort();
        if (!optimize) return model;

        var staged = Path.Combine(workDirectory, $"pre-{Guid.NewGuid():N}.onnx");
        var optimized = Path.ChangeExtension(staged, ".opt.onnx");
        try
        {
            File.WriteAllBytes(staged, OnnxModelFile.Serialize(model));
            new OptimizePass(OptimizationLevel.Basic, location).Run(new PassContext(staged, optimized, "", "", CancellationToken.None));
            var result = OnnxModelFile.Load(optimized, location);
            var r = new GraphEditor(result);
            r.PromoteConstants();
            NameUnnamedNodes(result.Graph);
            return result;
        }
        finally
        {
            File.Delete(staged);
            File.Delete(optimized);
        }
    }

    /// <summary>
    /// ONNX Runtime leaves the nodes it inlines from ONNX functions unnamed (HardSwish becomes an unnamed HardSigmoid and
    /// Mul); exclusion lists, latency-aware selection and the report address nodes by name, so each gets one: its op
    /// type and first output (unique, as outputs are).
    /// </summary>
    private static void NameUnnamedNodes(GraphProto graph)
    {
        var taken = graph.Node.Select(n => n.Name).Where(n => n.Length > 0).ToHashSet(StringComparer.Ordinal);
        foreach (var node in graph.Node.Where(n => n.Name.Length == 0))
        {
            var stem = $"{node.OpType}_{node.Output.FirstOrDefault(o => o.Length > 0) ?? "out"}";
            var name = stem;
            for (var i = 1; !taken.Add(name); i++) name = $"{stem}_{i}";
            node.Name = name;
        }
    }
}
