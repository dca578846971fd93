using ModelBuild.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace ModelBuild.Manifest.Loading;

/// <summary>
/// Streams the parser's events before anything builds a node tree, so hostile input (alias bombs, absurd
/// nesting, huge node counts) is refused cheaply and the recursive representation model never sees it.
/// Also finds syntax errors and duplicate keys, which the representation model would only throw on one at a time.
/// </summary>
internal static class YamlSafetyScanner
{
    public const int MaxBytes = 4 * 1024 * 1024;
    public const int MaxDepth = 64;
    public const int MaxNodes = 100_000;

    private sealed class Frame(bool isMapping)
    {
        public bool IsMapping { get; } = isMapping;
        public bool ExpectKey { get; set; } = true;
        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>True when the text is safe and well-formed enough to load into a YamlStream.</summary>
    public static bool Scan(string text, YamlNodeReader reader)
    {
        var ok = true;
        var stack = new Stack<Frame>();
        var nodes = 0;
        var documents = 0;
        var parser = new Parser(new StringReader(text));
        try
        {
            while (parser.MoveNext())
            {
                var e = parser.Current!;
                if (e is DocumentStart && ++documents == 2)
                {
                    reader.Report(DiagnosticCodes.YamlSyntax,
                        "a manifest holds one YAML document; remove the second '---' document", e.Start);
                    ok = false;
                }
                // AnchorAlias is not a NodeEvent, but it stands for a node.
                if (e is not (NodeEvent or AnchorAlias))
                {
                    if (e is MappingEnd or SequenceEnd) stack.Pop();
                    continue;
                }

                if (++nodes > MaxNodes)
                {
                    reader.Report(DiagnosticCodes.ManifestTooComplex,
                        $"the manifest has more than {MaxNodes} YAML nodes; refusing to load it", e.Start);
                    return false;
                }

                if (stack.TryPeek(out var parent) && parent.IsMapping)
                {
                    if (parent.ExpectKey && e is Scalar key && !parent.Keys.Add(key.Value))
                    {
                        reader.Report(DiagnosticCodes.DuplicateName, $"duplicate key '{key.Value}'", e.Start);
                        ok = false;
                    }
                    parent.ExpectKey = !parent.ExpectKey;
                }

                switch (e)
                {
                    case AnchorAlias alias:
                        // Aliases are how "billion laughs" documents expand; a manifest never needs them.
                        reader.Report(DiagnosticCodes.ManifestTooComplex,
                            $"YAML aliases (*{alias.Value}) are not allowed in a manifest; write the value out", e.Start);
                        ok = false;
                        break;
                    case MappingStart or SequenceStart:
                        stack.Push(new Frame(e is MappingStart));
                        if (stack.Count > MaxDepth)
                        {
                            reader.Report(DiagnosticCodes.ManifestTooComplex,
                                $"the manifest nests deeper than {MaxDepth} levels; refusing to load it", e.Start);
                            return false;
                        }
                        break;
                }
            }
        }
        catch (YamlException ex)
        {
            reader.Report(DiagnosticCodes.YamlSyntax, $"YAML syntax error: {CleanMessage(ex)}", ex.Start);
            return false;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet's scanner throws these (not YamlException) on some malformed input (found by fuzzing).
            // Their messages ("Operation is not valid due to the current state of the object") say nothing to a user;
            // what reaches here in practice is a structure left open.
            reader.Report(DiagnosticCodes.YamlSyntax, "YAML syntax error: the YAML parser cannot read this text; " +
                "look for a '{', '[' or quote that is never closed",
                parser.Current is { } current ? reader.At(current.Start) : new SourceLocation(reader.Path, 1, 1));
            return false;
        }
        return ok;
    }

    // YamlDotNet prefixes messages with the mark ("(Line: 3, Col: 5, Idx: 20) - (...): "); we print our own.
    internal static string CleanMessage(YamlException ex)
    {
        var m = ex.Message;
        var i = m.IndexOf("): ", StringComparison.Ordinal);
        return m.StartsWith('(') && i >= 0 ? m[(i + 3)..] : m;
    }
}
