using System.Text.RegularExpressions;
using ModelBuild.Core.Tests.Pipeline;

namespace ModelBuild.Core.Tests;

/// <summary>
/// ModelBuild.Core's folders (one namespace each) import one another without cycles, so each can be read and tested
/// with only what is below it: Diagnostics, IO, Onnx, Manifest, Data, Execution, Results, then Evaluation, Passes,
/// Checks, Targets, TorchScript, CodeGen, then Pipeline, then Reports.
/// </summary>
public sealed partial class NamespaceLayeringTests
{
    [Fact]
    public void Cores_namespaces_form_an_acyclic_stack()
    {
        var core = Path.Combine(PipelineWorkspace.RepoRoot, "src", "ModelBuild.Core");
        var edges = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(core, "*.cs", SearchOption.AllDirectories)
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            var text = File.ReadAllText(file);
            if (Namespace().Match(text) is not { Success: true } ns) continue;
            var from = ns.Groups[1].Value;
            var targets = Using().Matches(text).Select(m => m.Groups[1].Value)
                .Concat(Qualified().Matches(text).Select(m => m.Groups[1].Value))
                .Where(t => t != from);
            if (!edges.TryGetValue(from, out var set)) edges[from] = set = new HashSet<string>(StringComparer.Ordinal);
            set.UnionWith(targets);
        }

        // Depth-first search for a back edge; the message names the cycle.
        var state = new Dictionary<string, int>(StringComparer.Ordinal);
        var path = new List<string>();
        string? Visit(string node)
        {
            state[node] = 1;
            path.Add(node);
            foreach (var next in edges.GetValueOrDefault(node) ?? [])
            {
                if (state.GetValueOrDefault(next) == 1) return string.Join(" → ", path.SkipWhile(n => n != next).Append(next));
                if (state.GetValueOrDefault(next) == 0 && Visit(next) is { } cycle) return cycle;
            }
            path.RemoveAt(path.Count - 1);
            state[node] = 2;
            return null;
        }
        foreach (var node in edges.Keys.Order(StringComparer.Ordinal))
            if (state.GetValueOrDefault(node) == 0 && Visit(node) is { } cycle)
                Assert.Fail($"namespace cycle in ModelBuild.Core: {cycle}");
    }

    [GeneratedRegex(@"^namespace ModelBuild\.(\w+)", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    [GeneratedRegex(@"^using (?:\w+ = )?ModelBuild\.(\w+)", RegexOptions.Multiline)]
    private static partial Regex Using();

    // A type named through its namespace (Passes.Pruning.IFineTuner), not a member access (model.Checks.Accuracy).
    [GeneratedRegex(@"(?<![\w.])(?:ModelBuild\.)?(Diagnostics|IO|Onnx|Manifest|Data|Execution|Results|Evaluation|Passes|Checks|Targets|TorchScript|CodeGen|Pipeline|Reports)\.(?:[A-Z]\w*\.)*[A-Z]\w*\b(?!\s*\()")]
    private static partial Regex Qualified();
}
