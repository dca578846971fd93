using ModelBuild.Onnx;

namespace ModelBuild.Manifest.Loading;

/// <summary>The spelling of each enum value in deploy.yaml, in the order messages list them.</summary>
internal static class EnumNames
{
    public static readonly (string, TensorElementType)[] DType =
    [
        ("float32", TensorElementType.Float32), ("float16", TensorElementType.Float16),
        ("int64", TensorElementType.Int64), ("int32", TensorElementType.Int32),
        ("uint8", TensorElementType.UInt8), ("bool", TensorElementType.Bool),
    ];

    /// <summary>Raw image element types deploy.triton.preprocessing accepts (Cast to float32 handles each).</summary>
    public static readonly (string, TensorElementType)[] RawImageType =
    [
        ("uint8", TensorElementType.UInt8), ("float32", TensorElementType.Float32), ("float16", TensorElementType.Float16),
        ("int32", TensorElementType.Int32), ("int64", TensorElementType.Int64),
    ];

    public static readonly (string, Runtime.ImageLayout)[] ImageLayout =
        [("nchw", Runtime.ImageLayout.Nchw), ("nhwc", Runtime.ImageLayout.Nhwc)];

    public static readonly (string, OptimizationLevel)[] Optimize =
        [("none", OptimizationLevel.None), ("basic", OptimizationLevel.Basic), ("extended", OptimizationLevel.Extended)];

    public static readonly (string, QuantizeMode)[] QuantizeMode =
        [("dynamic", Manifest.QuantizeMode.Dynamic), ("static", Manifest.QuantizeMode.Static), ("qat", Manifest.QuantizeMode.Qat)];

    public static readonly (string, QuantizeFormat)[] QuantizeFormat =
        [("qdq", Manifest.QuantizeFormat.Qdq), ("qoperator", Manifest.QuantizeFormat.QOperator)];

    public static readonly (string, CalibrationMethod)[] Calibration =
    [
        ("minmax", CalibrationMethod.MinMax), ("percentile", CalibrationMethod.Percentile),
        ("entropy", CalibrationMethod.Entropy),
    ];

    public static readonly (string, PruneMethod)[] Prune =
    [
        ("l1-structured", PruneMethod.L1Structured), ("l1-unstructured", PruneMethod.L1Unstructured),
        ("random-unstructured", PruneMethod.RandomUnstructured), ("global-unstructured", PruneMethod.GlobalUnstructured),
    ];

    public static readonly (string, FinetuneOptimizer)[] Optimizer = [("adam", FinetuneOptimizer.Adam), ("sgd", FinetuneOptimizer.Sgd)];

    public static readonly (string, FinetuneSchedule)[] Schedule = [("none", FinetuneSchedule.None), ("cosine", FinetuneSchedule.Cosine)];

    public static readonly (string, FinetuneLoss)[] Loss = [("cross_entropy", FinetuneLoss.CrossEntropy), ("mse", FinetuneLoss.Mse)];

    public static readonly (string, MetricKind)[] Metric =
        [("top1", MetricKind.Top1), ("top5", MetricKind.Top5), ("mae", MetricKind.Mae), ("cosine", MetricKind.Cosine)];


    public static readonly (string, Diagnostics.Severity)[] Severity =
        [("error", Diagnostics.Severity.Error), ("warning", Diagnostics.Severity.Warning)];

    public static readonly (string, DockerTarget)[] Docker =
        [("triton", DockerTarget.Triton), ("server", DockerTarget.Server), ("none", DockerTarget.None)];

    public static readonly (string, InstanceKind)[] InstanceKind =
        [("cpu", Manifest.InstanceKind.Cpu), ("gpu", Manifest.InstanceKind.Gpu)];

    public static readonly (string, TritonBackendKind)[] TritonPlatform =
    [
        ("onnxruntime", TritonBackendKind.OnnxRuntime), ("tensorrt", TritonBackendKind.TensorRt),
        ("pytorch", TritonBackendKind.PyTorch),
    ];

    public static readonly (string, AcceleratorKind)[] Accelerator =
        [("tensorrt", AcceleratorKind.TensorRt), ("openvino", AcceleratorKind.OpenVino), ("none", AcceleratorKind.None)];

    public static readonly (string, PrecisionKind)[] Precision =
        [("fp32", PrecisionKind.Fp32), ("fp16", PrecisionKind.Fp16), ("int8", PrecisionKind.Int8)];

    /// <summary>The scalar forms of deploy.triton.version_policy; the mapping form is { specific: [...] }.</summary>
    public static readonly (string, VersionPolicyKind)[] VersionPolicy =
        [("latest", VersionPolicyKind.Latest), ("all", VersionPolicyKind.All)];

    public static readonly (string, ScaleMetricKind)[] ScaleMetric =
    [
        ("concurrency", ScaleMetricKind.Concurrency), ("rps", ScaleMetricKind.Rps),
        ("cpu", ScaleMetricKind.Cpu), ("memory", ScaleMetricKind.Memory),
    ];

    /// <summary>deploy.mobile (one value or a list); the single value "none" reads as not set.</summary>
    public static readonly (string, MobileFormat)[] Mobile = [("ort", MobileFormat.Ort), ("tflite", MobileFormat.Tflite)];
    public const string NoMobile = "none";

    public static readonly (string, TfliteLayout)[] TfliteLayout = [("nhwc", Manifest.TfliteLayout.Nhwc), ("model", Manifest.TfliteLayout.Model)];
    public static readonly (string, TfliteIo)[] TfliteIo = [("float", Manifest.TfliteIo.Float), ("int8", Manifest.TfliteIo.Int8)];
}
