using System.IO.Compression;

namespace ModelBuild.Data;

/// <summary>Writes arrays as a NumPy .npz (what <c>np.savez</c> / <c>np.savez_compressed</c> produce).</summary>
public static class NpzWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, NdArray>> arrays, bool compress = false)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Write(stream, arrays, compress);
    }

    public static void Write(Stream stream, IEnumerable<KeyValuePair<string, NdArray>> arrays, bool compress = false)
    {
        ArgumentNullException.ThrowIfNull(arrays);
        using var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        foreach (var (name, array) in arrays)
        {
            if (string.IsNullOrEmpty(name) || name.Contains('/') || name.Contains('\\'))
                throw new ArgumentException($"'{name}' is not a valid .npz array name.", nameof(arrays));
            var entry = archive.CreateEntry(name + ".npy", compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
            // Fixed timestamp keeps archives byte-identical across runs.
            entry.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);
            using var entryStream = entry.Open();
            NpyWriter.Write(entryStream, array);
        }
    }
}
