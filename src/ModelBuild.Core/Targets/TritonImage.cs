namespace ModelBuild.Targets;

/// <summary>The NVIDIA container images the generated Dockerfile builds on.</summary>
public static class TritonImage
{
    public const string Repository = "nvcr.io/nvidia/tritonserver";

    /// <summary>The TensorRT image whose trtexec builds engines for the matching Triton release.</summary>
    public const string TensorRtRepository = "nvcr.io/nvidia/tensorrt";

    /// <summary>
    /// NGC release 24.08 (Triton 2.49.0): a real, pinned release so rebuilds are reproducible. Its ONNX Runtime
    /// backend reads opset 17 models, and its runtime image ships curl, which the HEALTHCHECK uses.
    /// </summary>
    public const string DefaultTag = "24.08";

    /// <summary>The full image reference, e.g. <c>nvcr.io/nvidia/tritonserver:24.08-py3</c>.</summary>
    public static string Reference(string tag = DefaultTag)
    {
        Validate(tag);
        return $"{Repository}:{tag}-py3";
    }

    /// <summary>
    /// The TensorRT image of the same NGC release, e.g. <c>nvcr.io/nvidia/tensorrt:24.08-py3</c>. A plan only loads
    /// in the TensorRT version that built it, and same-month NGC images share that version.
    /// </summary>
    public static string TensorRtReference(string tag = DefaultTag)
    {
        Validate(tag);
        return $"{TensorRtRepository}:{tag}-py3";
    }

    /// <summary>A release tag such as <c>24.08</c>: Docker tag characters only, and never a moving tag.</summary>
    public static void Validate(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        if (tag.Length is 0 or > 100 || !tag.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')
            || !char.IsAsciiLetterOrDigit(tag[0]))
            throw new ArgumentException($"'{tag}' is not a valid Triton image tag (expected a release such as {DefaultTag}).", nameof(tag));
        if (tag.Equals("latest", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException("The Triton image tag must be pinned to a release, not 'latest'.", nameof(tag));
    }
}
