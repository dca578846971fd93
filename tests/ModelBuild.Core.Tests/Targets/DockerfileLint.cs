using System.Text.Json;

namespace ModelBuild.Core.Tests.Targets;

/// <summary>
/// A small Dockerfile linter for the generated files: pinned base image, health check, exposed ports,
/// exec-form CMD, and COPY sources that exist in the build context and are not dropped by .dockerignore.
/// </summary>
internal static class DockerfileLint
{
    public sealed record Instruction(string Keyword, string Arguments, int Line);

    public static IReadOnlyList<Instruction> Parse(string dockerfile)
    {
        var result = new List<Instruction>();
        var lines = dockerfile.ReplaceLineEndings("\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var start = i + 1;
            // A trailing backslash continues the instruction on the next line.
            while (line.EndsWith('\\') && i + 1 < lines.Length)
                line = line[..^1].TrimEnd() + " " + lines[++i].Trim();
            var space = line.IndexOf(' ');
            result.Add(space < 0
                ? new Instruction(line.ToUpperInvariant(), "", start)
                : new Instruction(line[..space].ToUpperInvariant(), line[(space + 1)..].Trim(), start));
        }
        return result;
    }

    /// <param name="contextDir">The build context (the deploy folder), for COPY sources and .dockerignore.</param>
    public static IReadOnlyList<string> Check(string dockerfile, string contextDir, IEnumerable<int> requiredPorts)
    {
        var problems = new List<string>();
        var ins = Parse(dockerfile);

        var first = ins.FirstOrDefault();
        if (first is null || first.Keyword != "FROM")
            problems.Add("the first instruction must be FROM");
        foreach (var from in ins.Where(i => i.Keyword == "FROM"))
        {
            var image = from.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(a => !a.StartsWith("--")) ?? "";
            var name = image[(image.LastIndexOf('/') + 1)..];
            var tag = name.Contains(':') ? name[(name.IndexOf(':') + 1)..] : null;
            if (image.Contains('$')) problems.Add($"line {from.Line}: FROM must not depend on build arguments: {image}");
            else if (image.Contains("@sha256:")) { /* a digest pins it */ }
            else if (tag is null) problems.Add($"line {from.Line}: FROM {image} has no explicit tag");
            else if (tag.Equals("latest", StringComparison.OrdinalIgnoreCase)) problems.Add($"line {from.Line}: FROM {image} uses 'latest'");
        }

        var health = ins.Where(i => i.Keyword == "HEALTHCHECK").ToList();
        if (health.Count == 0) problems.Add("no HEALTHCHECK");
        else if (health.Count > 1) problems.Add("more than one HEALTHCHECK (only the last counts)");
        else if (!health[0].Arguments.Contains(" CMD ") && !health[0].Arguments.StartsWith("CMD "))
            problems.Add("HEALTHCHECK has no CMD");

        var exposed = ins.Where(i => i.Keyword == "EXPOSE")
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(p => p.Split('/')[0])
            .ToHashSet();
        foreach (var port in requiredPorts)
        {
            if (!exposed.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                problems.Add($"port {port} is not exposed");
        }

        var ignore = ReadIgnore(contextDir);
        foreach (var copy in ins.Where(i => i.Keyword is "COPY" or "ADD"))
        {
            var args = copy.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(a => !a.StartsWith("--")).ToList();
            if (args.Count < 2) { problems.Add($"line {copy.Line}: {copy.Keyword} needs a source and a destination"); continue; }
            if (copy.Arguments.Split(' ').FirstOrDefault(a => a.StartsWith("--from=")) is { } from)
            {
                CheckCopyFromStage(ins, copy, from["--from=".Length..], args[..^1], problems);
                continue;
            }
            foreach (var source in args[..^1])
            {
                var full = Path.GetFullPath(Path.Combine(contextDir, source));
                if (!full.StartsWith(Path.GetFullPath(contextDir), StringComparison.Ordinal))
                    problems.Add($"line {copy.Line}: {source} is outside the build context");
                else if (!File.Exists(full) && !Directory.Exists(full))
                    problems.Add($"line {copy.Line}: {source} does not exist in the build context");
                else if (IsIgnored(ignore, source))
                    problems.Add($"line {copy.Line}: {source} is excluded by .dockerignore");
            }
        }

        var cmd = ins.LastOrDefault(i => i.Keyword is "CMD" or "ENTRYPOINT");
        if (cmd is null) problems.Add("no CMD");
        else if (!IsExecForm(cmd.Arguments)) problems.Add($"line {cmd.Line}: {cmd.Keyword} should use the exec (JSON array) form");

        return problems;
    }

    /// <summary>
    /// A COPY --from must name an earlier stage, and each file it copies must be written by that stage: some RUN
    /// of the stage (exec form) has an argument ending in that path, e.g. trtexec's --saveEngine=PATH.
    /// </summary>
    private static void CheckCopyFromStage(IReadOnlyList<Instruction> ins, Instruction copy, string stage, List<string> sources, List<string> problems)
    {
        var stageStart = ins.TakeWhile(i => i != copy).LastOrDefault(i => i.Keyword == "FROM"
            && i.Arguments.EndsWith(" AS " + stage, StringComparison.OrdinalIgnoreCase));
        if (stageStart is null)
        {
            problems.Add($"line {copy.Line}: COPY --from={stage} names no earlier stage");
            return;
        }
        var runs = ins.SkipWhile(i => i != stageStart).Skip(1).TakeWhile(i => i.Keyword != "FROM").Where(i => i.Keyword == "RUN").ToList();
        foreach (var run in runs.Where(r => !IsExecForm(r.Arguments)))
            problems.Add($"line {run.Line}: RUN in stage {stage} should use the exec (JSON array) form");
        var written = runs.Where(r => IsExecForm(r.Arguments)).SelectMany(r => JsonSerializer.Deserialize<string[]>(r.Arguments)!).ToList();
        foreach (var source in sources)
        {
            if (!written.Any(a => a == source || a.EndsWith("=" + source, StringComparison.Ordinal)))
                problems.Add($"line {copy.Line}: {source} is not written by any RUN in stage {stage}");
        }
    }

    public static bool IsExecForm(string arguments)
    {
        try
        {
            return JsonSerializer.Deserialize<string[]>(arguments) is { Length: > 0 };
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static List<string> ReadIgnore(string contextDir)
    {
        var path = Path.Combine(contextDir, ".dockerignore");
        return File.Exists(path)
            ? File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList()
            : [];
    }

    // Docker's rule, reduced to top-level names: the last pattern matching the path or a parent decides.
    public static bool IsIgnored(IReadOnlyList<string> patterns, string source)
    {
        var path = source.Replace('\\', '/').Trim('/');
        var ignored = false;
        foreach (var raw in patterns)
        {
            var negate = raw.StartsWith('!');
            var pattern = (negate ? raw[1..] : raw).Trim('/');
            var segments = path.Split('/');
            for (var n = 1; n <= segments.Length; n++)
            {
                if (System.IO.Enumeration.FileSystemName.MatchesSimpleExpression(pattern, string.Join('/', segments[..n]), ignoreCase: false))
                {
                    ignored = !negate;
                    break;
                }
            }
        }
        return ignored;
    }
}
