using ModelBuild.Core.Tests.Pipeline;
using ModelBuild.TorchScript.Conversion;

namespace ModelBuild.Core.Tests.TorchScript.Conversion;

/// <summary>docs/torchscript-conversion.md lists every op name the converter registers, between two markers; this
/// keeps the list true to the code (on a mismatch the message holds the block to paste).</summary>
public sealed class OpCoverageDocTests
{
    private const string Begin = "<!-- registered-ops:begin -->";
    private const string End = "<!-- registered-ops:end -->";

    public static string Expected() =>
        string.Join("\n", OpRegistry.CreateDefault().Names.Select(Display).Order(StringComparer.Ordinal).Distinct()
            .Chunk(8).Select(row => string.Join(" ", row.Select(n => $"`{n}`"))));

    /// <summary>Saved code calls aten ops as torch.X and prim ops as ops.prim.X; the list shows them as saved code does, less the torch. prefix.</summary>
    private static string Display(string name) => name.StartsWith("torch.", StringComparison.Ordinal) ? name["torch.".Length..] : name;

    [Fact]
    public void Documented_op_list_matches_the_registry()
    {
        var doc = File.ReadAllText(Path.Combine(PipelineWorkspace.RepoRoot, "docs", "torchscript-conversion.md"));
        var start = doc.IndexOf(Begin, StringComparison.Ordinal);
        var end = doc.IndexOf(End, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"docs/torchscript-conversion.md lacks the {Begin} … {End} block");
        var documented = doc[(start + Begin.Length)..end].Trim();
        Assert.True(documented == Expected(), $"the registered ops changed; put this between the markers:\n{Expected()}");
    }
}
