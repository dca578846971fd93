using ModelBuild.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace ModelBuild.Manifest.Loading;

/// <summary>
/// A YAML mapping seen through a fixed set of known keys: unknown keys are reported once (with a suggestion),
/// missing required keys are reported at the mapping itself.
/// </summary>
internal sealed class YamlMap
{
    private readonly YamlNodeReader _reader;
    private readonly Dictionary<string, (YamlScalarNode Key, YamlNode Value)> _entries = new(StringComparer.Ordinal);

    public YamlMap(YamlNodeReader reader, YamlMappingNode node, string context)
    {
        _reader = reader;
        Node = node;
        Context = context;
        foreach (var (key, value) in node.Children)
        {
            if (key is YamlScalarNode s && !YamlNodeReader.IsNull(s))
                _entries[s.Value!] = (s, value);
            else
                reader.Report(DiagnosticCodes.InvalidValue, $"keys must be plain names {context}, got {YamlNodeReader.Describe(key)}", key);
        }
    }

    public YamlMappingNode Node { get; }

    /// <summary>Where the mapping sits, for messages: "in model 'fashion'".</summary>
    public string Context { get; set; }

    public SourceLocation Location => _reader.At(Node);

    public YamlNode? this[string key] => _entries.TryGetValue(key, out var e) ? e.Value : null;

    public YamlScalarNode? KeyNode(string key) => _entries.TryGetValue(key, out var e) ? e.Key : null;

    public bool Has(string key) => _entries.ContainsKey(key);

    /// <summary>Reports every key not in <paramref name="known"/> (MB1003).</summary>
    public void CheckKeys(IReadOnlyCollection<string> known)
    {
        foreach (var (name, (key, _)) in _entries)
        {
            if (known.Contains(name)) continue;
            _reader.Report(DiagnosticCodes.UnknownKey,
                $"unknown key '{name}' {Context}" + DidYouMean.Hint(name, known), key);
        }
    }

    /// <summary>The value of a required key, or null after reporting MB1005 at the mapping.</summary>
    public YamlNode? Require(string key, string? why = null)
    {
        if (this[key] is { } v) return v;
        _reader.Report(DiagnosticCodes.MissingKey,
            $"missing required key '{key}' {Context}" + (why is null ? "" : $"; {why}"), Node);
        return null;
    }
}
