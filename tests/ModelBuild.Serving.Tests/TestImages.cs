using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace ModelBuild.Serving.Tests;

/// <summary>Encodes 8-bit grayscale test images (PNG with real CRCs and Paeth/Sub filters, binary PGM).</summary>
internal static class TestImages
{
    /// <summary>A Fashion-MNIST test value (normalized with the training mean and std) back as the 8-bit pixel it was.</summary>
    public static byte FashionPixel(float normalized) => (byte)Math.Clamp(MathF.Round((normalized * 0.3530f + 0.2860f) * 255f), 0, 255);

    public static byte[] Pgm(int width, int height, byte[] pixels) =>
        [.. Encoding.ASCII.GetBytes($"P5\n# test\n{width} {height}\n255\n"), .. pixels];

    public static byte[] Png(int width, int height, byte[] pixels)
    {
        var raw = new MemoryStream();
        for (var y = 0; y < height; y++)
        {
            // Alternate filters so the decoder's unfiltering is exercised, not only filter 0.
            var filter = (byte)(y % 3 == 0 ? 0 : y % 3 == 1 ? 1 : 4);
            raw.WriteByte(filter);
            for (var x = 0; x < width; x++)
            {
                int cur = pixels[y * width + x], a = x > 0 ? pixels[y * width + x - 1] : 0;
                int b = y > 0 ? pixels[(y - 1) * width + x] : 0, c = x > 0 && y > 0 ? pixels[(y - 1) * width + x - 1] : 0;
                int predictor = filter switch { 1 => a, 4 => Paeth(a, b, c), _ => 0 };
                raw.WriteByte((byte)(cur - predictor));
            }
        }
        var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw.ToArray());
        return PngWithImageData(width, height, compressed.ToArray());
    }

    /// <summary>An 8-bit grayscale PNG whose IDAT holds exactly <paramref name="idat"/> (for corrupt or hostile data).</summary>
    public static byte[] PngWithImageData(int width, int height, byte[] idat)
    {
        var png = new MemoryStream();
        png.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // depth
        ihdr[9] = 0; // grayscale
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", idat);
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        Encoding.ASCII.GetBytes(type, header.AsSpan(4));
        s.Write(header);
        s.Write(data);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32([.. header[4..], .. data]));
        s.Write(crc);
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
