using ModelBuild.Diagnostics;

namespace ModelBuild.IO;

/// <summary>
/// The files a build reads (manifests, sources, evaluation, calibration and fine-tuning data), each with the manifest
/// key that names it. An output folder can hold them (<c>--out .</c>), and the build must never overwrite or delete one.
/// </summary>
public sealed class RunInputs
{
    // Linux file systems are case-sensitive; Windows and macOS ones usually are not, and there a different case is the same file.
    public static StringComparer PathComparer { get; } = OperatingSystem.IsLinux() ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;

    private readonly List<string> _paths = [];
    private readonly Dictionary<string, SourceLocation> _byRealPath = new(PathComparer);

    public RunInputs(IEnumerable<(string Path, SourceLocation Location)> files)
    {
        var seen = new HashSet<string>(PathComparer);
        foreach (var (path, location) in files)
        {
            var full = Path.GetFullPath(path);
            if (seen.Add(full)) _paths.Add(full);
            _byRealPath.TryAdd(RealPath(full), location);
        }
    }

    /// <summary>Full paths of every input, as the manifests name them.</summary>
    public IEnumerable<string> Paths => _paths;

    /// <summary>Where the manifest names <paramref name="path"/>, if it is an input of this run (through symbolic links too).</summary>
    public SourceLocation? Find(string path) => _byRealPath.TryGetValue(RealPath(path), out var location) ? location : null;

    /// <summary>
    /// The path with every symbolic link along it resolved, so an output folder reached through a link
    /// (<c>--out build</c> where build → .) is still seen to hold the sources. Parts that do not exist stay as written.
    /// </summary>
    public static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full)!;
        var current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            FileSystemInfo entry = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            try
            {
                if (entry.Exists && entry.LinkTarget is not null && entry.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                    current = Path.GetFullPath(target.FullName);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A link loop or an unreadable link: keep the path as written; reading the file reports it properly.
            }
        }
        return current;
    }
}
