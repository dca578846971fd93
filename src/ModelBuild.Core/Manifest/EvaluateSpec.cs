using ModelBuild.Runtime;
using ModelBuild.Diagnostics;

namespace ModelBuild.Manifest;

public enum MetricKind
{
    Top1,
    Top5,
    Mae,
    Cosine,
}

/// <summary>Which reader an <c>evaluate.data</c> form selects.</summary>
public enum EvaluationDataFormat
{
    Npz,
    Npy,
    Csv,
    Images,
    Idx,
}

/// <summary>
/// Evaluation data: an .npz holding arrays named after the inputs plus <c>labels</c>, separate
/// <c>inputs</c> / <c>labels</c> .npy files, a CSV, an image folder (one subfolder per class), or MNIST idx files.
/// </summary>
public sealed class EvaluateSpec
{
    public EvaluationDataFormat Format { get; init; } = EvaluationDataFormat.Npz;

    /// <summary>Full path of the .npz (the <c>data: file.npz</c> form).</summary>
    public string? Data { get; init; }

    /// <summary>Full path of the inputs .npy (the <c>data: { inputs, labels }</c> form).</summary>
    public string? InputsFile { get; init; }
    public string? LabelsFile { get; init; }

    /// <summary>Full path of the CSV (<c>data: f.csv</c> or <c>{ csv: f.csv }</c>).</summary>
    public string? CsvFile { get; init; }

    /// <summary>The CSV column holding integer labels; absent from the file means no labels.</summary>
    public string LabelColumn { get; init; } = "label";

    /// <summary>The model input the CSV's numeric columns feed; null = the model's only input.</summary>
    public string? InputName { get; init; }

    /// <summary>Full path of the image folder (<c>{ images: dir }</c>).</summary>
    public string? ImageDirectory { get; init; }

    /// <summary>Full paths of the idx3 images and idx1 labels files (<c>{ idx: { images, labels } }</c>).</summary>
    public string? IdxImages { get; init; }
    public string? IdxLabels { get; init; }

    /// <summary>
    /// The model's one image preprocessing (<see cref="ModelSpec.Preprocess"/>), set by the binder; defaults where the
    /// model declares none.
    /// </summary>
    public ImagePreprocessing Preprocess { get; internal set; } = new();
    public MetricKind Metric { get; init; } = MetricKind.Top1;
    public int? Samples { get; init; }
    public required SourceLocation Location { get; init; }

    /// <summary>Where <c>evaluate.data</c>'s value is written: problems with the data itself are reported there.</summary>
    public SourceLocation? DataLocation { get; init; }

    /// <summary><see cref="DataLocation"/>, or the evaluate mapping when the spec was built without one.</summary>
    public SourceLocation DataKey => DataLocation ?? Location;

    /// <summary>Files the data is read from (for incremental builds); an image folder lists its image files.</summary>
    public IEnumerable<string> Files
    {
        get
        {
            foreach (var f in new[] { Data, InputsFile, LabelsFile, CsvFile, IdxImages, IdxLabels })
                if (f is not null) yield return f;
            if (ImageDirectory is { } dir && Directory.Exists(dir))
                foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                    yield return f;
        }
    }

    /// <summary>What reports name as the data: the file or folder, relative to <paramref name="baseDirectory"/>.</summary>
    public string Describe(string baseDirectory)
    {
        var named = new[] { Data, InputsFile, LabelsFile, CsvFile, ImageDirectory, IdxImages, IdxLabels }.Where(f => f is not null);
        return string.Join(", ", named.Select(f =>
        {
            // Data outside the manifest's folder (a shared dataset) reads better as an absolute path than as ../../..
            var relative = Path.GetRelativePath(baseDirectory, f!);
            return (relative.StartsWith("..", StringComparison.Ordinal) ? f! : relative).Replace('\\', '/');
        }));
    }
}
