using System.Buffers.Binary;
using System.IO.Compression;

namespace ModelBuild.Core.Tests.Data;

/// <summary>Writes MNIST-style idx files (uint8), raw or gzipped, for tests.</summary>
internal static class IdxFiles
{
    public static byte[] Bytes(byte[] data, params int[] dims)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = 0x08;
        bytes[3] = (byte)dims.Length;
        for (var i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static byte[] Gzip(byte[] raw)
    {
        using var buffer = new MemoryStream();
        using (var gz = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return buffer.ToArray();
    }

    public static void Write(string path, byte[] data, bool gzip, params int[] dims)
    {
        var raw = Bytes(data, dims);
        File.WriteAllBytes(path, gzip ? Gzip(raw) : raw);
    }
}
