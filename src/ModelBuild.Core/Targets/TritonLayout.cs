namespace ModelBuild.Targets;

/// <summary>
/// Names in the deploy folder: <c>deploy/Dockerfile</c>, <c>deploy/.dockerignore</c>,
/// <c>deploy/triton/&lt;model&gt;/config.pbtxt</c>, <c>deploy/triton/&lt;model&gt;/&lt;version&gt;/model.onnx</c>,
/// and for TensorRT engines built by the Dockerfile <c>deploy/tensorrt/&lt;model&gt;/model.onnx</c>.
/// </summary>
public static class TritonLayout
{
    /// <summary>The model repository folder, relative to the deploy folder (the Docker build context).</summary>
    public const string RepositoryFolder = "triton";

    /// <summary>The ONNX models the Dockerfile's engine stage turns into TensorRT plans.</summary>
    public const string EngineFolder = "tensorrt";

    public const string ConfigFileName = "config.pbtxt";

    /// <summary>The version folder written unless <c>deploy.triton.version</c> says otherwise.</summary>
    public const int DefaultVersion = 1;

    public const string DockerfileName = "Dockerfile";
    public const string DockerIgnoreName = ".dockerignore";

    /// <summary>The file name the backend looks for inside a version folder.</summary>
    public static string ModelFileName(TritonPlatform platform) => platform switch
    {
        TritonPlatform.OnnxRuntime => "model.onnx",
        TritonPlatform.PyTorchLibTorch => "model.pt",
        TritonPlatform.TensorRtPlan => "model.plan",
        _ => throw new ArgumentOutOfRangeException(nameof(platform), platform, null),
    };

    /// <summary>Relative paths (with '/') of the files one model adds under the deploy folder.</summary>
    public static string ConfigPath(string modelName) => $"{RepositoryFolder}/{modelName}/{ConfigFileName}";

    public static string ModelPath(string modelName, TritonPlatform platform, int version = DefaultVersion) =>
        $"{RepositoryFolder}/{modelName}/{version.ToString(System.Globalization.CultureInfo.InvariantCulture)}/{ModelFileName(platform)}";

    /// <summary>A file that keeps an ensemble's (otherwise empty) version folder in the output.</summary>
    public static string EnsembleVersionMarker(string ensembleName, int version = DefaultVersion) =>
        $"{RepositoryFolder}/{ensembleName}/{version.ToString(System.Globalization.CultureInfo.InvariantCulture)}/README.txt";

    /// <summary>The ONNX model trtexec reads, relative to the deploy folder.</summary>
    public static string EngineSourcePath(string modelName) => $"{EngineFolder}/{modelName}/model.onnx";
}
