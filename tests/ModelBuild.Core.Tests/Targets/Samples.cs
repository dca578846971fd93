using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Targets;

/// <summary>Model interfaces and Triton settings shared by the target tests.</summary>
internal static class Samples
{
    public static readonly SourceLocation Where = new("deploy.yaml", 12, 7);

    public static Dimension D(long size) => Dimension.Fixed(size);
    public static Dimension Dyn(string symbol) => Dimension.Dynamic(symbol);

    public static TensorInfo T(string name, TensorElementType type, params Dimension[] dims) => new(name, type, dims);

    /// <summary>An image classifier exported with a dynamic batch axis.</summary>
    public static ModelInterface Cnn() => new(
        [T("x", TensorElementType.Float32, Dyn("batch"), D(3), D(224), D(224))],
        [T("logits", TensorElementType.Float32, Dyn("batch"), D(1000))]);

    /// <summary>The same classifier traced with batch 1 baked in.</summary>
    public static ModelInterface FixedBatchCnn() => new(
        [T("x", TensorElementType.Float32, D(1), D(3), D(224), D(224))],
        [T("logits", TensorElementType.Float32, D(1), D(1000))]);

    public static TritonSpec Spec(
        int maxBatchSize, DynamicBatchingSpec? batching = null, params InstanceGroupSpec[] groups) => new()
    {
        MaxBatchSize = maxBatchSize,
        DynamicBatching = batching,
        InstanceGroups = groups,
        Location = Where,
    };
}
