namespace ModelBuild.Core.Tests.Targets;

/// <summary>
/// A parsed ModelConfig, read from protoc's canonical text (<see cref="Protoc.Decode"/>): what Triton's parser
/// actually understood, not what the writer meant to write.
/// </summary>
internal sealed class ConfigNode
{
    public List<(string Field, string? Value, ConfigNode? Child)> Fields { get; } = [];

    public IEnumerable<ConfigNode> All(string field) => Fields.Where(f => f.Field == field && f.Child is not null).Select(f => f.Child!);
    public IEnumerable<string> Values(string field) => Fields.Where(f => f.Field == field && f.Value is not null).Select(f => f.Value!);
    public string? Value(string field) => Values(field).FirstOrDefault();
    public ConfigNode? One(string field) => All(field).FirstOrDefault();

    /// <summary>Parses a config.pbtxt the way Triton does (protoc against model_config.proto), then reads its canonical form.</summary>
    public static ConfigNode FromConfig(string config)
    {
        var encoded = Protoc.Encode(config);
        Assert.True(encoded.ExitCode == 0, $"protoc rejected the config:\n{encoded.Stderr}\n---\n{config}");
        return Parse(Protoc.Decode(encoded.Stdout));
    }

    // protoc --decode writes one field per line: `name: value`, `name {` and `}`.
    private static ConfigNode Parse(string canonical)
    {
        var stack = new Stack<ConfigNode>();
        stack.Push(new ConfigNode());
        foreach (var raw in canonical.ReplaceLineEndings("\n").Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (line == "}") { stack.Pop(); continue; }
            if (line.EndsWith(" {", StringComparison.Ordinal))
            {
                var child = new ConfigNode();
                stack.Peek().Fields.Add((line[..^2], null, child));
                stack.Push(child);
                continue;
            }
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            var value = line[(colon + 2)..];
            if (value.StartsWith('"')) value = value[1..^1].Replace("\\\"", "\"").Replace("\\\\", "\\");
            stack.Peek().Fields.Add((line[..colon], value, null));
        }
        return stack.Single();
    }
}

/// <summary>
/// Checks an ensemble the way Triton's ensemble scheduler does at load time: every step's model is in the
/// repository, every model input is fed by a tensor that exists by then with the same type and shape, output
/// names are mapped once, and the ensemble's outputs are all produced.
/// </summary>
internal static class EnsembleWiring
{
    private sealed record Tensor(string DataType, string Dims);

    public static List<string> Problems(IReadOnlyDictionary<string, string> repository, string ensembleName)
    {
        var configs = repository.ToDictionary(kv => kv.Key, kv => ConfigNode.FromConfig(kv.Value));
        var problems = new List<string>();
        var ensemble = configs[ensembleName];
        if (ensemble.Value("platform") != "ensemble") problems.Add("the ensemble's platform is not \"ensemble\"");
        var batch = int.Parse(ensemble.Value("max_batch_size") ?? "0");

        var available = Tensors(ensemble, "input");
        var steps = ensemble.One("ensemble_scheduling")?.All("step").ToList() ?? [];
        if (steps.Count == 0) problems.Add("the ensemble has no steps");
        foreach (var (step, n) in steps.Select((s, i) => (s, i + 1)))
        {
            var name = step.Value("model_name") ?? "";
            if (!configs.TryGetValue(name, out var model))
            {
                problems.Add($"step {n} runs '{name}', which is not in the repository");
                continue;
            }
            if (model.Value("name") != name) problems.Add($"'{name}'s config names itself '{model.Value("name")}'");
            var modelBatch = int.Parse(model.Value("max_batch_size") ?? "0");
            if (batch > modelBatch) problems.Add($"the ensemble batches up to {batch}, but '{name}' only {modelBatch}");

            var inputs = Tensors(model, "input");
            var inputMap = Map(step, "input_map");
            foreach (var missing in inputs.Keys.Except(inputMap.Keys))
                problems.Add($"step {n}: input '{missing}' of '{name}' is not mapped");
            foreach (var (key, value) in inputMap)
            {
                if (!inputs.TryGetValue(key, out var wanted)) problems.Add($"step {n}: '{key}' is not an input of '{name}'");
                else if (!available.TryGetValue(value, out var have)) problems.Add($"step {n}: tensor '{value}' does not exist before this step");
                else if (have != wanted) problems.Add($"step {n}: tensor '{value}' is {have} but '{name}' input '{key}' is {wanted}");
            }

            var outputs = Tensors(model, "output");
            foreach (var (key, value) in Map(step, "output_map"))
            {
                if (!outputs.TryGetValue(key, out var produced)) problems.Add($"step {n}: '{key}' is not an output of '{name}'");
                else if (!available.TryAdd(value, produced)) problems.Add($"step {n}: tensor '{value}' is written twice");
            }
        }

        foreach (var (name, wanted) in Tensors(ensemble, "output"))
        {
            if (!available.TryGetValue(name, out var have)) problems.Add($"ensemble output '{name}' is produced by no step");
            else if (have != wanted) problems.Add($"ensemble output '{name}' is declared {wanted} but produced as {have}");
        }
        return problems;
    }

    private static Dictionary<string, Tensor> Tensors(ConfigNode config, string field) =>
        config.All(field).ToDictionary(
            t => t.Value("name")!,
            t => new Tensor(t.Value("data_type") ?? "TYPE_INVALID", string.Join(",", t.Values("dims"))));

    private static Dictionary<string, string> Map(ConfigNode step, string field) =>
        step.All(field).ToDictionary(e => e.Value("key")!, e => e.Value("value") ?? "");
}
