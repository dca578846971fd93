namespace ModelBuild.IO;

/// <summary>
/// Writes a file so readers see either the old content or the new, never a torn one: write a temp file in the
/// same folder (same file system, so the rename is atomic), flush it to disk, then rename over the target.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content)
    {
        var temp = TempPathFor(path);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    public static void WriteAllText(string path, string content) =>
        WriteAllBytes(path, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(content));

    /// <summary>
    /// Copies a file atomically and dates the copy now. File.Copy keeps the source's modification time on Unix, so
    /// a model switched to an older file made an older artifact, and MSBuild's PreserveNewest copy then kept the
    /// previous model in bin/.
    /// </summary>
    public static void Copy(string source, string destination)
    {
        var temp = TempPathFor(destination);
        try
        {
            File.Copy(source, temp);
            File.SetLastWriteTimeUtc(temp, DateTime.UtcNow);
            File.Move(temp, destination, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>A temp name beside the target that no other process picks: a crash leaves only *.mbtmp files behind.</summary>
    public static string TempPathFor(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.mbtmp");
    }
}
