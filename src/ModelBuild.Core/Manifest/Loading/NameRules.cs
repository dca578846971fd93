using System.Text.RegularExpressions;

namespace ModelBuild.Manifest.Loading;

/// <summary>
/// Model and variant names become folder names and Triton model names, hence the narrow pattern. The patterns end
/// in \z, not $: in .NET $ also matches before a final "\n", which would let "digits\n" through.
/// </summary>
internal static partial class NameRules
{
    /// <summary>The pattern as users read it in messages and docs.</summary>
    public const string PatternText = "^[a-z][a-z0-9_-]*$";

    /// <summary>Variant names with a fixed meaning: the plain export, and "pick the fastest passing variant".</summary>
    public static readonly string[] ReservedVariantNames = [VariantSpec.BaseName, DeploySpec.BestVariant];

    public static bool IsValid(string name) => Pattern().IsMatch(name);

    /// <summary>Named dynamic axes in shapes ("batch", "seq_len").</summary>
    public static bool IsAxisName(string name) => AxisPattern().IsMatch(name);

    [GeneratedRegex(@"^[a-z][a-z0-9_-]*\z")]
    private static partial Regex Pattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*\z")]
    private static partial Regex AxisPattern();
}
