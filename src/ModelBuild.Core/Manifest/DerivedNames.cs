using System.Text.RegularExpressions;

namespace ModelBuild.Manifest;

/// <summary>
/// Names that other systems derive from a model name: the manifest checks them (clashes, Kubernetes' rules) and the
/// deployment targets write them, so the rules live here, below both.
/// </summary>
public static partial class DerivedNames
{
    /// <summary>The KServe InferenceService: Kubernetes names (DNS-1035 labels) allow '-' but not '_'.</summary>
    public static string KServeService(string model) => model.Replace('_', '-');

    /// <summary>Longest DNS-1035 label, the rule for an InferenceService name.</summary>
    public const int MaxKServeServiceLength = 63;

    /// <summary>Whether Kubernetes accepts <paramref name="name"/> as an InferenceService name (a DNS-1035 label).</summary>
    public static bool IsValidKServeService(string name) => name.Length <= MaxKServeServiceLength && Dns1035Label().IsMatch(name);

    /// <summary>The Triton repository entry of a model's preprocessing (deploy.triton.preprocessing).</summary>
    public static string TritonPreprocess(string model) => model + "_preprocess";

    /// <summary>The Triton ensemble clients call when the model has a preprocessing entry.</summary>
    public static string TritonEnsemble(string model) => model + "_ensemble";

    [GeneratedRegex(@"^[a-z]([-a-z0-9]*[a-z0-9])?\z")]
    private static partial Regex Dns1035Label();
}
