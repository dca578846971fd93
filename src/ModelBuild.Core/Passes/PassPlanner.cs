using ModelBuild.Diagnostics;
using ModelBuild.Manifest;

namespace ModelBuild.Passes;

/// <summary>
/// Turns a variant's keys into an ordered list of passes. The order is fixed, whatever the key order in the
/// yaml: prune (needs float weights), then optimize (folds and fuses), then quantize or fp16 (last, on the final graph).
/// </summary>
public static class PassPlanner
{
    public static IReadOnlyList<IModelPass> Plan(VariantSpec variant)
    {
        var passes = new List<IModelPass>();
        if (variant.Prune is { } prune)
            throw NotYet("prune", prune.Location);
        if (variant.Optimize is { } optimize)
            passes.Add(new OptimizePass(optimize.Value, optimize.Location));
        if (variant.Quantize is { } quantize)
            throw NotYet("quantize", quantize.Location);
        if (variant.Fp16 is { } fp16)
            throw NotYet("fp16", fp16.Location);
        if (passes.Count == 0)
            throw new ModelBuildException(DiagnosticCodes.InvalidValue,
                $"variant '{variant.Name.Value}' applies no pass; give it optimize, quantize, fp16 or prune", variant.Location);
        return passes;
    }

    private static ModelBuildException NotYet(string key, SourceLocation location) =>
        new(DiagnosticCodes.NotSupportedYet, $"'{key}' variants are not supported by this version of ModelBuild yet", location);
}
