using ModelBuild.Diagnostics;

namespace ModelBuild.Onnx;

/// <summary>What <c>modelbuild inspect</c> shows: interface, opsets, op counts, parameters and size.</summary>
public sealed record ModelSummary(
    string Path,
    long SizeBytes,
    long IrVersion,
    string Producer,
    IReadOnlyDictionary<string, long> Opsets,
    ModelInterface Interface,
    IReadOnlyDictionary<string, int> OpCounts,
    long ParameterCount)
{
    public static ModelSummary Of(string path)
    {
        var location = new SourceLocation(path);
        var model = OnnxModelFile.Load(path, location);
        var opCounts = model.Graph.Node
            .GroupBy(n => string.IsNullOrEmpty(n.Domain) ? n.OpType : $"{n.Domain}.{n.OpType}")
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count());
        var parameters = model.Graph.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b));
        return new ModelSummary(
            path,
            new FileInfo(path).Length,
            model.IrVersion,
            string.Join(" ", new[] { model.ProducerName, model.ProducerVersion }.Where(s => !string.IsNullOrEmpty(s))),
            model.OpsetImport.ToDictionary(o => string.IsNullOrEmpty(o.Domain) ? "ai.onnx" : o.Domain, o => o.Version),
            ModelInterfaceReader.Read(model, location),
            opCounts,
            parameters);
    }
}
