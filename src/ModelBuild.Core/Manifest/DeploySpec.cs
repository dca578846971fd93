using ImageLayout = ModelBuild.Runtime.ImageLayout;
using ImagePreprocessing = ModelBuild.Runtime.ImagePreprocessing;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

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

    /// <summary>Set when <c>deploy.kserve</c> is <c>true</c> or a mapping: emit an InferenceService.</summary>
    public KServeSpec? KServe { get; init; }

    /// <summary>Mobile formats written for the deployed artifact (<c>deploy.mobile</c>, one value or a list).</summary>
    public IReadOnlyList<MobileFormat> Mobile { get; init; } = [];

    /// <summary>Settings of the TFLite file; set exactly when <see cref="Mobile"/> lists tflite.</summary>
    public TfliteSpec? Tflite { get; init; }

    /// <summary>Where <c>mobile</c> was written, for diagnostics about the mobile formats.</summary>
    public SourceLocation? MobileLocation { get; init; }

    public bool Writes(MobileFormat format) => Mobile.Contains(format);
    public SourceLocation? Location { get; init; }
}

public enum MobileFormat
{
    /// <summary>ONNX Runtime's ORT format, for ONNX Runtime Mobile.</summary>
    Ort,

    /// <summary>A TensorFlow Lite flatbuffer, for Android's TFLite/LiteRT interpreter.</summary>
    Tflite,
}

/// <summary>The axis order of a TFLite file's 4-D inputs and outputs.</summary>
public enum TfliteLayout
{
    /// <summary>TFLite's convention: images NHWC, weights and layout-sensitive ops rewritten to match.</summary>
    Nhwc,

    /// <summary>The ONNX model's own order (NCHW), for apps that already feed it.</summary>
    Model,
}

/// <summary>The element type of a full-integer TFLite file's inputs and outputs.</summary>
public enum TfliteIo
{
    /// <summary>float32, with QUANTIZE/DEQUANTIZE inside the file.</summary>
    Float,

    /// <summary>int8, with each tensor's scale and zero point in the file.</summary>
    Int8,
}

/// <summary><c>deploy.tflite</c>: how the TFLite file is laid out.</summary>
public sealed record TfliteSpec
{
    public TfliteLayout Layout { get; init; } = TfliteLayout.Nhwc;
    public TfliteIo Io { get; init; } = TfliteIo.Float;
    public required SourceLocation Location { get; init; }
}

/// <summary>The backend that serves the model in Triton (<c>deploy.triton.platform</c>).</summary>
public enum TritonBackendKind
{
    /// <summary>onnxruntime_onnx: the deployed ONNX artifact as is.</summary>
    OnnxRuntime,

    /// <summary>tensorrt_plan: an engine built from the deployed ONNX artifact by trtexec in the Dockerfile.</summary>
    TensorRt,

    /// <summary>pytorch_libtorch: the TorchScript artifact (export.torchscript).</summary>
    PyTorch,
}

public sealed class TritonSpec
{
    public int MaxBatchSize { get; init; }
    public DynamicBatchingSpec? DynamicBatching { get; init; }
    public IReadOnlyList<InstanceGroupSpec> InstanceGroups { get; init; } = Array.Empty<InstanceGroupSpec>();
    public TritonBackendKind Platform { get; init; } = TritonBackendKind.OnnxRuntime;

    /// <summary>Where <c>platform</c> was written (null when defaulted), for diagnostics about it.</summary>
    public SourceLocation? PlatformLocation { get; init; }
    public TritonOptimizationSpec? Optimization { get; init; }
    public VersionPolicySpec VersionPolicy { get; init; } = VersionPolicySpec.Latest;

    /// <summary>The numbered version folder the deployed artifact goes into.</summary>
    public int Version { get; init; } = 1;
    public WarmupSpec? Warmup { get; init; }

    /// <summary>Set when <c>deploy.triton.preprocessing</c> is given: serve raw images through an ensemble.</summary>
    public PreprocessingSpec? Preprocessing { get; init; }
    public required SourceLocation Location { get; init; }
}

/// <summary>
/// <c>deploy.triton.preprocessing</c>: the raw image input clients send; the model's one image preprocessing
/// (<see cref="Image"/>) turns it into the model's input.
/// </summary>
public sealed class PreprocessingSpec
{
    public const string DefaultInputName = "image";

    public string InputName { get; init; } = DefaultInputName;
    public TensorElementType InputType { get; init; } = TensorElementType.UInt8;

    /// <summary>The raw shape without the batch axis: [h, w] (one channel) or [h, w, c].</summary>
    public required IReadOnlyList<int> InputShape { get; init; }

    /// <summary>The model's one image preprocessing (<see cref="ModelSpec.Preprocess"/>), set by the binder.</summary>
    public ImagePreprocessing Image { get; internal set; } = new();

    public double Scale => Image.Scale;
    public IReadOnlyList<double> Mean => Image.Mean;
    public IReadOnlyList<double> Std => Image.Std;
    public ImageLayout Layout => Image.Layout;

    /// <summary>Channels of the raw image: the third axis of <see cref="InputShape"/>, else 1.</summary>
    public int Channels => InputShape.Count == 3 ? InputShape[2] : 1;
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

public enum AcceleratorKind
{
    None,
    TensorRt,
    OpenVino,
}

public enum PrecisionKind
{
    Fp32,
    Fp16,
    Int8,
}

/// <summary>
/// <c>deploy.triton.optimization</c>: an ONNX Runtime execution accelerator, and the precision and workspace that
/// TensorRT uses (the accelerator's, or trtexec's when the platform is tensorrt).
/// </summary>
public sealed class TritonOptimizationSpec
{
    public AcceleratorKind Accelerator { get; init; }
    public PrecisionKind Precision { get; init; } = PrecisionKind.Fp32;

    /// <summary>True when the manifest names a precision (so it can be refused where it means nothing).</summary>
    public bool PrecisionSet { get; init; }
    public int? MaxWorkspaceMb { get; init; }
    public required SourceLocation Location { get; init; }
}

public enum VersionPolicyKind
{
    Latest,
    All,
    Specific,
}

public sealed record VersionPolicySpec(VersionPolicyKind Kind, IReadOnlyList<long> Versions)
{
    public static readonly VersionPolicySpec Latest = new(VersionPolicyKind.Latest, []);
    public static readonly VersionPolicySpec All = new(VersionPolicyKind.All, []);
}

/// <summary><c>deploy.triton.warmup</c>: one warm-up request of random data at this batch size.</summary>
public sealed record WarmupSpec(int BatchSize);

public enum ScaleMetricKind
{
    Concurrency,
    Rps,
    Cpu,
    Memory,
}

/// <summary><c>deploy.kserve</c>: settings of the InferenceService written to deploy/kserve.yaml.</summary>
public sealed class KServeSpec
{
    public const string DefaultRuntime = "kserve-tritonserver";

    /// <summary>Where the deploy/triton folder is uploaded; null = a placeholder the user must replace.</summary>
    public string? StorageUri { get; init; }
    public string Runtime { get; init; } = DefaultRuntime;
    public int? MinReplicas { get; init; }
    public int? MaxReplicas { get; init; }
    public int? ScaleTarget { get; init; }
    public ScaleMetricKind? ScaleMetric { get; init; }
    public string? Cpu { get; init; }
    public string? Memory { get; init; }
    public int? Gpu { get; init; }
    public SourceLocation? Location { get; init; }
}
