using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

namespace ModelBuild.Manifest;

public sealed class ModelSpec
{
    public required Located<string> Name { get; init; }
    public required ModelSource Source { get; init; }

    /// <summary>Declared inputs; required for TorchScript, optional for ONNX (checked against the model when given).</summary>
    public IReadOnlyList<TensorSpec>? Inputs { get; init; }
    public IReadOnlyList<OutputSpec>? Outputs { get; init; }
    /// <summary>
    /// The model's image preprocessing, declared once (<c>preprocess</c>, or the image keys of evaluate.data or
    /// deploy.triton.preprocessing); null when the model declares none and evaluates no images.
    /// </summary>
    public Runtime.ImagePreprocessing? Preprocess { get; init; }
    public ExportSpec Export { get; init; } = new();
    public IReadOnlyList<VariantSpec> Variants { get; init; } = Array.Empty<VariantSpec>();
    public EvaluateSpec? Evaluate { get; init; }
    public ChecksSpec Checks { get; init; } = new();
    public DeploySpec Deploy { get; init; } = new();

    /// <summary>Where the model's mapping starts in the manifest.</summary>
    public required SourceLocation Location { get; init; }

    /// <summary>The files this model reads (source, data), each with the manifest key that names it.</summary>
    public IEnumerable<(string Path, SourceLocation Location)> ReferencedFiles
    {
        get
        {
            if (Source.Path is { } p) yield return (p, Source.Location);
            if (Source.TorchSharp is { } ts)
            {
                yield return (ts.Assembly, Source.Location);
                if (ts.Weights is { } w) yield return (w, Source.Location);
            }
            if (Evaluate is { } e)
                foreach (var f in e.Files) yield return (f, e.Location);
            foreach (var v in Variants)
                foreach (var f in v.ReferencedFiles) yield return f;
        }
    }
}

public enum ModelSourceKind
{
    Onnx,
    TorchScript,
    TorchSharp,
}

public sealed class ModelSource
{
    public required ModelSourceKind Kind { get; init; }

    /// <summary>Full path of the .onnx or .pt file (null for TorchSharp sources).</summary>
    public string? Path { get; init; }

    public TorchSharpSource? TorchSharp { get; init; }
    public required SourceLocation Location { get; init; }
}

public sealed record TorchSharpSource(string Assembly, string Type, string? Weights);

public sealed class TensorSpec
{
    public required Located<string> Name { get; init; }
    public required IReadOnlyList<Dimension> Shape { get; init; }
    public TensorElementType DType { get; init; } = TensorElementType.Float32;

    /// <summary><c>inputs[].range</c>: the values generated inputs take when no evaluation data is given.</summary>
    public (double Min, double Max)? Range { get; init; }

    /// <summary><c>inputs[].batch_axis</c>: which axis holds the batch (<see cref="NoBatchAxis"/> for none); null infers it.</summary>
    public int? BatchAxis { get; init; }

    public const int NoBatchAxis = -1;
    public required SourceLocation Location { get; init; }
}

public sealed class OutputSpec
{
    public required Located<string> Name { get; init; }

    /// <summary>Declared value range for the deployment checklist (outputs must stay inside it).</summary>
    public (double Min, double Max)? Range { get; init; }
    public required SourceLocation Location { get; init; }
}

public sealed class ExportSpec
{
    public int OnnxOpset { get; init; } = 17;
    public bool TorchScript { get; init; }

    /// <summary><c>export.arguments</c>: values (bool, long or double) for forward's non-tensor arguments, by name.</summary>
    public IReadOnlyDictionary<string, object> Arguments { get; init; } = new Dictionary<string, object>(StringComparer.Ordinal);
}
