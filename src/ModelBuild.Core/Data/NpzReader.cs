using System.IO.Compression;
using ModelBuild.Diagnostics;

namespace ModelBuild.Data;

/// <summary>
/// Reads NumPy .npz archives: a zip of <c>&lt;name&gt;.npy</c> entries, stored or deflated.
/// Every failure (not a zip, corrupt entry or CRC mismatch, bad .npy, entry over the size cap, entry name with
/// a path separator or repeated) is MB2010 naming the archive and the entry.
/// </summary>
public static class NpzReader
{
    /// <summary>Default cap on one entry's uncompressed size: 4 GiB.</summary>
    public const long DefaultMaxArrayBytes = 4L << 30;

    /// <summary>The array names the archive holds (entry names without <c>.npy</c>), in archive order.</summary>
    public static IReadOnlyList<string> Names(string path) =>
        WithArchive(path, archive => Index(path, archive).Keys.ToList());

    public static IReadOnlyDictionary<string, NdArray> ReadAll(string path, long maxArrayBytes = DefaultMaxArrayBytes) =>
        WithArchive(path, archive =>
        {
            var result = new Dictionary<string, NdArray>(StringComparer.Ordinal);
            foreach (var (name, entry) in Index(path, archive))
                result[name] = ReadEntry(path, entry, maxArrayBytes);
            return (IReadOnlyDictionary<string, NdArray>)result;
        });

    /// <summary>Reads only the named arrays; a name the archive lacks is MB2011 listing what it holds.</summary>
    public static IReadOnlyDictionary<string, NdArray> Read(string path, IEnumerable<string> names, long maxArrayBytes = DefaultMaxArrayBytes)
    {
        ArgumentNullException.ThrowIfNull(names);
        return WithArchive(path, archive =>
        {
            var index = Index(path, archive);
            var result = new Dictionary<string, NdArray>(StringComparer.Ordinal);
            foreach (var name in names)
            {
                if (result.ContainsKey(name)) continue;
                if (!index.TryGetValue(name, out var entry))
                    throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                        $"'{path}' has no array '{name}'; it holds: {Describe(index.Keys)}.", new SourceLocation(path));
                result[name] = ReadEntry(path, entry, maxArrayBytes);
            }
            return (IReadOnlyDictionary<string, NdArray>)result;
        });
    }

    internal static string Describe(IEnumerable<string> names)
    {
        var list = names.Select(n => $"'{n}'").ToList();
        return list.Count == 0 ? "no arrays" : string.Join(", ", list);
    }

    private static T WithArchive<T>(string path, Func<ZipArchive, T> action)
    {
        ZipArchive archive;
        try
        {
            archive = ZipFile.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException
            or ArgumentException or NotSupportedException)
        {
            throw NpyReader.Unreadable(path, null, $"not a readable .npz (zip) archive: {e.Message.TrimEnd('.')}", e);
        }
        using (archive)
        {
            try
            {
                return action(archive);
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                // ZipArchive reads the central directory lazily, on first use of Entries (found by fuzzing).
                throw NpyReader.Unreadable(path, null, $"corrupt .npz (zip) archive: {e.Message.TrimEnd('.')}", e);
            }
        }
    }

    private static Dictionary<string, ZipArchiveEntry> Index(string path, ZipArchive archive)
    {
        var index = new Dictionary<string, ZipArchiveEntry>(StringComparer.Ordinal);
        foreach (var entry in archive.Entries)
        {
            var fullName = entry.FullName;
            // np.savez writes flat names; anything else could be a path-traversal attempt or not an array at all.
            if (fullName.Contains('/') || fullName.Contains('\\'))
                throw NpyReader.Unreadable(path, fullName, "entry names with path separators are not allowed in an .npz");
            if (!fullName.EndsWith(".npy", StringComparison.Ordinal) || fullName.Length == 4)
                continue;
            if (!index.TryAdd(fullName[..^4], entry))
                throw NpyReader.Unreadable(path, fullName, "the archive holds this entry more than once");
        }
        return index;
    }

    private static NdArray ReadEntry(string path, ZipArchiveEntry entry, long maxArrayBytes)
    {
        // Length is what the zip directory declares; the reader then insists the .npy header declares exactly
        // that many bytes and never reads past it, so a lying directory cannot make us inflate more.
        if (entry.Length > maxArrayBytes)
            throw NpyReader.Unreadable(path, entry.FullName, $"entry expands to {entry.Length} bytes, over the {maxArrayBytes}-byte cap");
        Stream stream;
        try
        {
            stream = entry.Open();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException)
        {
            throw NpyReader.Unreadable(path, entry.FullName, e.Message.TrimEnd('.'), e);
        }
        using var checkedStream = new Crc32Stream(stream);
        var array = NpyReader.Read(checkedStream, entry.Length, path, entry.FullName);
        if (checkedStream.Crc32 != entry.Crc32)
            throw NpyReader.Unreadable(path, entry.FullName, $"CRC-32 mismatch (0x{checkedStream.Crc32:X8}, archive says " +
                $"0x{entry.Crc32:X8}): the archive is corrupt");
        return array;
    }
}
