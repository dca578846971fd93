namespace ModelBuild.Manifest.Loading;

/// <summary>The keys deploy.yaml schema 1 accepts at each level. schema/deploy.schema.json must list the same.</summary>
internal static class ManifestKeys
{
    public static readonly string[] Root = ["schema", "requires", "models"];
    public static readonly string[] Model = ["name", "source", "inputs", "outputs", "preprocess", "export", "variants",
        "evaluate", "checks", "deploy"];
    public static readonly string[] Preprocess = ["size", "crop", "scale", "mean", "std", "layout"];
    public static readonly string[] Source = ["torchsharp"];
    public static readonly string[] TorchSharp = ["assembly", "type", "weights"];
    public static readonly string[] Input = ["name", "shape", "dtype", "range", "batch_axis"];
    public static readonly string[] Output = ["name", "range"];
    public static readonly string[] Export = ["onnx", "torchscript", "arguments"];
    public static readonly string[] ExportOnnx = ["opset"];
    public static readonly string[] Variant = ["name", "from", "optimize", "quantize", "fp16", "prune"];
    public static readonly string[] Quantize = ["mode", "per_channel", "format", "symmetric", "reduce_range", "accuracy_aware", "latency_aware",
        "outlier_channels", "calibration", "exclude", "ops", "finetune", "learn_scales"];
    public static readonly string[] Calibration = ["data", "samples", "method"];
    public static readonly string[] Exclude = ["ops", "nodes"];
    public static readonly string[] Fp16 = ["keep_io_types", "block_ops"];
    public static readonly string[] Prune = ["method", "amount", "n", "round_to", "finetune"];
    public static readonly string[] Finetune = ["data", "samples", "epochs", "batch_size", "learning_rate", "optimizer", "loss",
        "schedule", "distill", "temperature"];
    public static readonly string[] Evaluate = ["data", "metric", "samples"];
    // evaluate.data mapping forms: the key naming the data picks the form; each form takes only its own keys.
    public static readonly string[] EvaluateData = ["inputs", "labels", "csv", "label_column", "input", "images", "size", "crop", "mean",
        "std", "layout", "scale", "idx"];
    public static readonly string[] EvaluateNpy = ["inputs", "labels"];
    public static readonly string[] EvaluateCsv = ["csv", "label_column", "input"];
    public static readonly string[] EvaluateImages = ["images", "size", "crop", "mean", "std", "layout", "scale"];
    public static readonly string[] EvaluateIdx = ["idx", "mean", "std", "scale"];
    public static readonly string[] EvaluateIdxFiles = ["images", "labels"];
    public static readonly string[] Checks = ["parity", "similarity", "accuracy", "latency", "size", "checklist"];
    public static readonly string[] Similarity = ["min_cosine", "severity"];
    public static readonly string[] Parity = ["max_abs", "severity"];
    public static readonly string[] Accuracy = ["min", "max_drop", "max_drop_percent", "severity"];
    public static readonly string[] Latency = ["p95_ms", "batch", "severity"];
    public static readonly string[] Size = ["max_mb", "severity"];
    public static readonly string[] Checklist = ["severity"];
    public static readonly string[] Deploy = ["variant", "triton", "docker", "kserve", "mobile", "tflite"];
    public static readonly string[] Tflite = ["layout", "io"];
    public static readonly string[] Triton =
        ["max_batch_size", "dynamic_batching", "instance_group", "platform", "optimization", "version", "version_policy", "warmup", "preprocessing"];
    public static readonly string[] Preprocessing = ["input", "scale", "mean", "std", "layout"];
    public static readonly string[] PreprocessingInput = ["name", "dtype", "shape"];
    public static readonly string[] Optimization = ["accelerator", "precision", "max_workspace_mb"];
    public static readonly string[] VersionPolicy = ["specific"];
    public static readonly string[] Warmup = ["batch_size"];
    public static readonly string[] KServe =
        ["storage_uri", "runtime", "min_replicas", "max_replicas", "scale_target", "scale_metric", "resources"];
    public static readonly string[] Resources = ["cpu", "memory", "gpu"];
    public static readonly string[] DynamicBatching = ["max_queue_delay_us", "preferred_batch_size"];
    public static readonly string[] InstanceGroup = ["kind", "count"];
}
