namespace ModelBuild.Runtime;

/// <summary>How a deployed model's ONNX Runtime session is set up.</summary>
public sealed record DeployedModelOptions
{
    /// <summary>ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose (one per core).</summary>
    public int IntraOpThreads { get; init; }
}
