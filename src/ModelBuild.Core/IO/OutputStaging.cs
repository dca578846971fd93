using ModelBuild.Diagnostics;

namespace ModelBuild.IO;

/// <summary>
/// Artifacts are built in a private staging folder and moved into the output folder only when the run
/// succeeds (or fails a check, so the report can be read). A crash or bad input leaves the output folder as it was.
/// </summary>
public sealed class OutputStaging : IDisposable
{
    /// <summary>Bookkeeping folder inside the output folder: what the last run read and wrote.</summary>
    public const string StateFolder = ".modelbuild";
    public const string OutputsListFile = "outputs.txt";
    public const string InputsListFile = "inputs.txt";

    private readonly SortedSet<string> _files = new(StringComparer.Ordinal);

    public OutputStaging(string outputDirectory)
    {
        OutputDirectory = Path.GetFullPath(outputDirectory);
        if (File.Exists(OutputDirectory))
            throw new ModelBuildException(DiagnosticCodes.OutputWriteFailed,
                $"the output folder '{OutputDirectory}' is an existing file; name a folder (it is created if missing)");
        StagingDirectory = Path.Combine(OutputDirectory, StateFolder, $"staging-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            RemoveLeftovers(Path.Combine(OutputDirectory, StateFolder));
            Directory.CreateDirectory(StagingDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // E.g. a file where a parent folder should be, a read-only location: the user's to fix, not a crash.
            throw new ModelBuildException(DiagnosticCodes.OutputWriteFailed,
                $"cannot create the output folder '{OutputDirectory}': {e.Message}", inner: e);
        }
    }

    /// <summary>
    /// A run killed outright (MSBuild's cancel kills the process tree, a native crash) cannot clean up after itself:
    /// its staging folder and temp files stay behind. They carry the dead run's process id, so the next run removes
    /// them; those of a live process (another run on the same folder) are left alone.
    /// </summary>
    public static void RemoveLeftovers(string stateFolder)
    {
        if (!Directory.Exists(stateFolder)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(stateFolder))
        {
            var name = Path.GetFileName(entry);
            int? pid = name.StartsWith("staging-", StringComparison.Ordinal) ? ParsePid(name.Split('-')[1])
                : name.EndsWith(".mbtmp", StringComparison.Ordinal) && name.Split('.') is { Length: >= 4 } parts ? ParsePid(parts[^3])
                : null;
            if (pid is not { } id || IsAlive(id)) continue;
            try
            {
                if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private static int? ParsePid(string text) => int.TryParse(text, System.Globalization.NumberStyles.None,
        System.Globalization.CultureInfo.InvariantCulture, out var pid) ? pid : null;

    private static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    public string OutputDirectory { get; }
    public string StagingDirectory { get; }

    /// <summary>Output paths (relative, '/'-separated) written so far.</summary>
    public IReadOnlyCollection<string> Files => _files;

    /// <summary>The staging path for a relative output path; the path must stay inside the output folder.</summary>
    public string PathFor(string relativePath)
    {
        var full = Path.GetFullPath(Path.Combine(StagingDirectory, relativePath));
        if (!full.StartsWith(StagingDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ModelBuildException(DiagnosticCodes.PathEscapesRoot, $"output path '{relativePath}' would leave the output folder");
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        _files.Add(Path.GetRelativePath(StagingDirectory, full).Replace('\\', '/'));
        return full;
    }

    public void WriteText(string relativePath, string content) => AtomicFile.WriteAllText(PathFor(relativePath), content);

    public void WriteBytes(string relativePath, byte[] content) => AtomicFile.WriteAllBytes(PathFor(relativePath), content);

    public void CopyFile(string source, string relativePath) => AtomicFile.Copy(source, PathFor(relativePath));

    /// <summary>
    /// Moves every staged file into place (each move atomic), deletes outputs of the previous run that this run
    /// no longer produces, and records what was read and written for incremental builds. An input of the run is
    /// never overwritten nor deleted: the output folder may hold the sources (<c>--out .</c>).
    /// </summary>
    public void Commit(RunInputs inputs)
    {
        // Refuse before moving anything, so a refused run leaves the folder as it was.
        foreach (var relative in _files)
            if (inputs.Find(Path.Combine(OutputDirectory, relative)) is { } location)
                throw new ModelBuildException(DiagnosticCodes.OutputWriteFailed,
                    $"output '{relative}' would overwrite '{Path.Combine(OutputDirectory, relative)}', a file this build " +
                    $"reads; choose another output folder",
                    location);
        var previous = ReadList(Path.Combine(OutputDirectory, StateFolder, OutputsListFile));
        foreach (var relative in _files)
        {
            var destination = Path.Combine(OutputDirectory, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Move(Path.Combine(StagingDirectory, relative), destination, overwrite: true);
        }
        foreach (var stale in previous.Except(_files, StringComparer.Ordinal))
        {
            var path = Path.GetFullPath(Path.Combine(OutputDirectory, stale));
            // A stale output that is now an input (a source moved where an old artifact was) belongs to the user.
            if (path.StartsWith(OutputDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal)
                && File.Exists(path) && inputs.Find(path) is null)
                File.Delete(path);
        }
        var state = Path.Combine(OutputDirectory, StateFolder);
        AtomicFile.WriteAllText(Path.Combine(state, InputsListFile), string.Join('\n', inputs.Paths.Order(StringComparer.Ordinal)) + "\n");
        AtomicFile.WriteAllText(Path.Combine(state, OutputsListFile), string.Join('\n', _files) + "\n");
    }

    private static IReadOnlyList<string> ReadList(string path) =>
        File.Exists(path) ? File.ReadAllLines(path).Where(l => l.Length > 0).ToList() : Array.Empty<string>();

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(StagingDirectory)) Directory.Delete(StagingDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Leftover staging folders are harmless: they are private to one run and ignored by the next.
        }
    }
}
