using System.Text.RegularExpressions;
using NuGet.Versioning;

namespace ModelBuild.Manifest.Loading;

/// <summary>
/// Parses <c>requires:</c>. Accepts NuGet range notation ("[1.0, 2.0)", "1.0" = at least 1.0) and, because the
/// contract's own example is written that way, comparator notation: ">= 1.0.0", "> 1.0, &lt; 2.0", "= 1.2.3".
/// </summary>
internal static partial class VersionRangeParser
{
    public static bool TryParse(string text, out VersionRange? range)
    {
        range = null;
        var t = text.Trim();
        if (t.Length == 0) return false;
        if (t[0] is '[' or '(' || NuGetVersion.TryParse(t, out _))
            return VersionRange.TryParse(t, out range) && range is not null;

        var parts = Comparator().Matches(t);
        if (parts.Count == 0 || parts.Count > 2) return false;
        // Everything between the comparators may only be separators.
        if (Separators().Replace(Comparator().Replace(t, ""), "").Length != 0) return false;

        NuGetVersion? min = null, max = null;
        bool minInclusive = false, maxInclusive = false;
        foreach (Match m in parts)
        {
            if (!NuGetVersion.TryParse(m.Groups[2].Value, out var v)) return false;
            switch (m.Groups[1].Value)
            {
                case ">=" or ">" when min is null:
                    (min, minInclusive) = (v, m.Groups[1].Value == ">=");
                    break;
                case "<=" or "<" when max is null:
                    (max, maxInclusive) = (v, m.Groups[1].Value == "<=");
                    break;
                case "=" or "==" when parts.Count == 1:
                    (min, max, minInclusive, maxInclusive) = (v, v, true, true);
                    break;
                default:
                    return false;
            }
        }
        if (min is not null && max is not null)
        {
            var c = min.CompareTo(max);
            if (c > 0 || (c == 0 && !(minInclusive && maxInclusive))) return false; // empty range
        }
        range = new VersionRange(min, minInclusive, max, maxInclusive);
        return true;
    }

    [GeneratedRegex(@"(>=|<=|==|>|<|=)\s*([0-9][0-9A-Za-z.\-+]*)")]
    private static partial Regex Comparator();

    [GeneratedRegex(@"[\s,]+")]
    private static partial Regex Separators();
}
