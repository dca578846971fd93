using System.Globalization;
using System.Text.RegularExpressions;
using ModelBuild.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ModelBuild.Manifest.Loading;

/// <summary>
/// Typed reads from YAML nodes. Every failed read reports a diagnostic at the node's own line and column
/// and returns null, so binding can carry on and report every problem in one pass.
/// Scalars follow the YAML 1.2 core schema: quoted "5" is a string, not a number.
/// </summary>
internal sealed partial class YamlNodeReader(string path, DiagnosticBag diagnostics)
{
    public string Path { get; } = path;
    public int ErrorCount { get; private set; }

    public SourceLocation At(YamlNode node) => At(node.Start);
    public SourceLocation At(Mark mark) => new(Path, (int)mark.Line, (int)mark.Column);

    public void Report(string code, string message, SourceLocation location)
    {
        ErrorCount++;
        diagnostics.Error(code, message, location);
    }

    public void Report(string code, string message, YamlNode node) => Report(code, message, At(node));
    public void Report(string code, string message, Mark mark) => Report(code, message, At(mark));

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } s
        && s.Value is null or "" or "~" or "null" or "Null" or "NULL";

    public static string Describe(YamlNode node) => node switch
    {
        _ when IsNull(node) => "nothing",
        YamlScalarNode s => $"'{s.Value}'",
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        _ => "an alias",
    };

    private void TypeError(YamlNode node, string what, string expected) =>
        Report(DiagnosticCodes.InvalidValue, $"'{what}' must be {expected}, got {Describe(node)}", node);

    public YamlMap? Map(YamlNode node, string what, string context)
    {
        if (node is YamlMappingNode m) return new YamlMap(this, m, context);
        TypeError(node, what, "a mapping");
        return null;
    }

    public IReadOnlyList<YamlNode>? List(YamlNode node, string what)
    {
        if (node is YamlSequenceNode s) return s.Children.ToList();
        TypeError(node, what, "a list");
        return null;
    }

    public Located<string>? String(YamlNode node, string what)
    {
        if (node is YamlScalarNode s && !IsNull(node)) return new Located<string>(s.Value ?? "", At(node));
        TypeError(node, what, "a string");
        return null;
    }

    /// <summary>A non-empty string.</summary>
    public Located<string>? Text(YamlNode node, string what)
    {
        var s = String(node, what);
        if (s is { Value.Length: 0 })
        {
            Report(DiagnosticCodes.InvalidValue, $"'{what}' must not be empty", node);
            return null;
        }
        return s;
    }

    public bool? Bool(YamlNode node, string what)
    {
        if (node is YamlScalarNode { Style: ScalarStyle.Plain } s)
        {
            if (s.Value is "true" or "True" or "TRUE") return true;
            if (s.Value is "false" or "False" or "FALSE") return false;
        }
        TypeError(node, what, "true or false");
        return null;
    }

    public long? Integer(YamlNode node, string what, long min = long.MinValue, long max = long.MaxValue)
    {
        if (node is YamlScalarNode { Style: ScalarStyle.Plain } s && IntegerPattern().IsMatch(s.Value ?? "")
            && long.TryParse(s.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
        {
            if (v >= min && v <= max) return v;
            Report(DiagnosticCodes.InvalidValue, $"'{what}' must be {RangeText(min, max)}, got {v}", node);
            return null;
        }
        TypeError(node, what, "an integer");
        return null;
    }

    public int? Int(YamlNode node, string what, int min = int.MinValue, int max = int.MaxValue) =>
        (int?)Integer(node, what, min, max);

    /// <summary>A finite number; bounds are inclusive unless marked exclusive.</summary>
    public double? Number(YamlNode node, string what, double min = double.MinValue, double max = double.MaxValue,
        bool minExclusive = false, bool maxExclusive = false)
    {
        if (node is YamlScalarNode { Style: ScalarStyle.Plain } s && NumberPattern().IsMatch(s.Value ?? "")
            && double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            && double.IsFinite(v))
        {
            var below = minExclusive ? v <= min : v < min;
            var above = maxExclusive ? v >= max : v > max;
            if (!below && !above) return v;
            Report(DiagnosticCodes.InvalidValue,
                $"'{what}' must be {RangeText(min, max, minExclusive, maxExclusive)}, got {s.Value}", node);
            return null;
        }
        TypeError(node, what, "a number");
        return null;
    }

    public T? Enum<T>(YamlNode node, string what, IReadOnlyList<(string Name, T Value)> allowed) where T : struct
    {
        var names = allowed.Select(a => a.Name).ToList();
        if (node is YamlScalarNode s && !IsNull(node))
        {
            foreach (var (name, value) in allowed)
                if (string.Equals(name, s.Value, StringComparison.Ordinal)) return value;
            Report(DiagnosticCodes.InvalidValue,
                $"invalid value '{s.Value}' for '{what}'; expected one of: {string.Join(", ", names)}"
                + DidYouMean.Hint(s.Value ?? "", names), node);
            return null;
        }
        TypeError(node, what, "one of: " + string.Join(", ", names));
        return null;
    }

    private static string RangeText(double min, double max, bool minExclusive = false, bool maxExclusive = false)
    {
        static string F(double d) => d.ToString(CultureInfo.InvariantCulture);
        var hasMin = min > double.MinValue;
        var hasMax = max < double.MaxValue && max < long.MaxValue;
        if (hasMin && hasMax)
            return minExclusive || maxExclusive
                ? $"between {F(min)} and {F(max)} ({(minExclusive ? "exclusive" : "inclusive")} of {F(min)}, " +
                    $"{(maxExclusive ? "exclusive" : "inclusive")} of {F(max)})"
                : $"between {F(min)} and {F(max)}";
        if (hasMin) return minExclusive ? $"greater than {F(min)}" : $"at least {F(min)}";
        if (hasMax) return maxExclusive ? $"less than {F(max)}" : $"at most {F(max)}";
        return "a number";
    }

    // \z, not $ ($ matches before a final "\n"); plain scalars can't end in one today, but the pattern should not rely on it.
    [GeneratedRegex(@"^[-+]?[0-9]+\z")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\z")]
    private static partial Regex NumberPattern();
}
