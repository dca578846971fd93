using Onnx;

namespace ModelBuild.Onnx;

/// <summary>
/// What values an integer graph input can take, read from how the graph uses it: an input that indexes a table
/// (Gather on an initializer: token ids into an embedding, token types into a 2-row table) must stay below the
/// table's size on that axis. Looked through the ops that pass indices on unchanged (Cast, Reshape, Unsqueeze, …).
/// Used to generate inputs a model accepts when no evaluation data is given.
/// </summary>
public static class InputValueBounds
{
    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal)
    {
        "Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity", "Transpose", "Expand", "Slice", "Concat",
    };

    /// <summary>For each integer input that indexes a constant table: the exclusive upper bound (the smallest table size).</summary>
    public static IReadOnlyDictionary<string, long> IndexLimits(ModelProto model)
    {
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, t => t, StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var input in node.Input)
                (consumers.TryGetValue(input, out var list) ? list : consumers[input] = []).Add(node);
        var limits = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var input in graph.Input)
        {
            if (initializers.ContainsKey(input.Name)) continue;
            var elem = (TensorProto.Types.DataType)input.Type.TensorType.ElemType;
            if (elem is not (TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Int32)) continue;
            long? limit = null;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var frontier = new Queue<string>([input.Name]);
            while (frontier.Count > 0)
            {
                var value = frontier.Dequeue();
                if (!seen.Add(value) || !consumers.TryGetValue(value, out var users)) continue;
                foreach (var node in users)
                {
                    if (node.OpType == "Gather" && node.Input.Count > 1 && node.Input[1] == value
                        && initializers.TryGetValue(node.Input[0], out var table))
                    {
                        var axis = node.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 0;
                        if (axis < 0) axis += table.Dims.Count;
                        if (axis >= 0 && axis < table.Dims.Count) limit = Math.Min(limit ?? long.MaxValue, table.Dims[(int)axis]);
                    }
                    else if (PassThrough.Contains(node.OpType) && node.Input.Count > 0 && node.Input[0] == value)
                        foreach (var output in node.Output) frontier.Enqueue(output);
                }
            }
            if (limit is > 0) limits[input.Name] = limit.Value;
        }
        return limits;
    }
}
