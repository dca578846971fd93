using ModelBuild.Diagnostics;

namespace ModelBuild.Manifest;

public enum DockerTarget
{
    None,
    Triton,
    Server,
}

public sealed class DeploySpec
{
    public const string BestVariant = "best";

    /// <summary>"base", a variant name, or "best" (fastest variant passing every check).</summary>
    public Located<string> Variant { get; init; } = new("base", new SourceLocation(""));
    public TritonSpec? Triton { get; init; }
    public DockerTarget Docker { get; init; } = DockerTarget.None;
    public bool KServe { get; init; }

    /// <summary>"ort" to emit an ORT-format model for ONNX Runtime Mobile.</summary>
    public string? Mobile { get; init; }
    public SourceLocation? Location { get; init; }
}

public sealed class TritonSpec
{
    public int MaxBatchSize { get; init; }
    public DynamicBatchingSpec? DynamicBatching { get; init; }
    public IReadOnlyList<InstanceGroupSpec> InstanceGroups { get; init; } = Array.Empty<InstanceGroupSpec>();

    /// <summary><c>platform</c>: onnxruntime serves model.onnx; pytorch serves the <c>export.torchscript</c> model.pt.</summary>
    public Targets.TritonPlatform Platform { get; init; } = Targets.TritonPlatform.OnnxRuntime;
    public SourceLocation? PlatformLocation { get; init; }
    public required SourceLocation Location { get; init; }
}

public sealed class DynamicBatchingSpec
{
    public long MaxQueueDelayUs { get; init; }
    public IReadOnlyList<int> PreferredBatchSizes { get; init; } = Array.Empty<int>();
}

public enum InstanceKind
{
    Cpu,
    Gpu,
}

public sealed record InstanceGroupSpec(InstanceKind Kind, int Count);
