using ModelBuild.Diagnostics;

namespace ModelBuild.Manifest;

public enum MetricKind
{
    Top1,
    Top5,
    Mae,
    Cosine,
}

/// <summary>
/// Evaluation data: either one .npz holding arrays named after the inputs plus <c>labels</c>,
/// or separate <c>inputs</c> / <c>labels</c> .npy files.
/// </summary>
public sealed class EvaluateSpec
{
    /// <summary>Full path of the .npz (the <c>data: file.npz</c> form).</summary>
    public string? Data { get; init; }

    /// <summary>Full path of the inputs .npy (the <c>data: { inputs, labels }</c> form).</summary>
    public string? InputsFile { get; init; }
    public string? LabelsFile { get; init; }
    public MetricKind Metric { get; init; } = MetricKind.Top1;
    public int? Samples { get; init; }
    public required SourceLocation Location { get; init; }

    public IEnumerable<string> Files =>
        new[] { Data, InputsFile, LabelsFile }.Where(f => f is not null).Select(f => f!);
}
