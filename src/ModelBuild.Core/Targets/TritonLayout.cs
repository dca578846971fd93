namespace ModelBuild.Targets;

/// <summary>
/// Names in the deploy folder: <c>deploy/Dockerfile</c>, <c>deploy/.dockerignore</c>,
/// <c>deploy/triton/&lt;model&gt;/config.pbtxt</c> and <c>deploy/triton/&lt;model&gt;/1/model.onnx</c>.
/// </summary>
public static class TritonLayout
{
    /// <summary>The model repository folder, relative to the deploy folder (the Docker build context).</summary>
    public const string RepositoryFolder = "triton";

    public const string ConfigFileName = "config.pbtxt";

    /// <summary>Only one version is deployed, and the config's version policy serves the latest.</summary>
    public const string VersionFolder = "1";

    public const string DockerfileName = "Dockerfile";
    public const string DockerIgnoreName = ".dockerignore";

    /// <summary>The file name the backend looks for inside a version folder.</summary>
    public static string ModelFileName(TritonPlatform platform) => platform switch
    {
        TritonPlatform.OnnxRuntime => "model.onnx",
        TritonPlatform.PyTorchLibTorch => "model.pt",
        _ => throw new ArgumentOutOfRangeException(nameof(platform), platform, null),
    };

    /// <summary>Relative paths (with '/') of the files one model adds under the deploy folder.</summary>
    public static string ConfigPath(string modelName) => $"{RepositoryFolder}/{modelName}/{ConfigFileName}";

    public static string ModelPath(string modelName, TritonPlatform platform) =>
        $"{RepositoryFolder}/{modelName}/{VersionFolder}/{ModelFileName(platform)}";
}
