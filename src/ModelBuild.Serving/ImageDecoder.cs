using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace ModelBuild.Serving;

/// <summary>
/// A decoded image: <see cref="Channels"/> (1 gray, 3 RGB) values 0..255 per pixel, row-major HWC. Bytes, not
/// floats: the largest accepted image then takes 50 MB, not 200 (16-bit samples are rounded to 8 bits, finer than
/// any model's input needs).
/// </summary>
public sealed record DecodedImage(int Width, int Height, int Channels, byte[] Pixels);

/// <summary>
/// Decodes PNG (8/16-bit gray, gray+alpha, RGB, RGBA; palette 1-8 bit; not interlaced) and PGM/PPM (P2, P3, P5, P6).
/// Written here rather than taken from an imaging library: these two formats cover what /predict needs, and
/// bounded, format-checked parsing of untrusted uploads is easier to reason about in ~200 lines.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Larger images are refused before any pixel is decoded.</summary>
    public const int MaxPixels = 4096 * 4096;

    private static readonly byte[] PngSignature = [137, 80, 78, 71, 13, 10, 26, 10];

    /// <exception cref="RequestException">400: not a PNG/PGM/PPM, corrupt, unsupported or too large.</exception>
    public static DecodedImage Decode(byte[] bytes)
    {
        if (bytes.Length >= 8 && bytes.AsSpan(0, 8).SequenceEqual(PngSignature)) return DecodePng(bytes);
        if (bytes.Length >= 2 && bytes[0] == 'P' && bytes[1] is (byte)'2' or (byte)'3' or (byte)'5' or (byte)'6') return DecodePnm(bytes);
        throw Bad("the image is not a PNG, PGM or PPM file");
    }

    private static DecodedImage DecodePng(byte[] bytes)
    {
        int width = 0, height = 0, depth = 0, colorType = -1;
        byte[]? palette = null;
        var idat = new MemoryStream();
        var pos = 8;
        while (true)
        {
            if (pos + 12 > bytes.Length) throw Bad("the PNG file is truncated");
            var length = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(pos));
            var type = Encoding.ASCII.GetString(bytes, pos + 4, 4);
            if (length < 0 || pos + 12L + length > bytes.Length) throw Bad("the PNG file is truncated");
            var data = bytes.AsSpan(pos + 8, length);
            pos += 12 + length;
            if (type == "IHDR")
            {
                if (length != 13) throw Bad("the PNG header is corrupt");
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                depth = data[8];
                colorType = data[9];
                if (data[12] != 0) throw Bad("interlaced PNG images are not supported");
                if (width <= 0 || height <= 0 || (long)width * height > MaxPixels)
                    throw Bad($"the image is {width}x{height}; at most {MaxPixels} pixels are accepted");
            }
            else if (type == "PLTE") palette = data.ToArray();
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") break;
        }
        if (colorType < 0) throw Bad("the PNG file has no header");
        var samples = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => throw Bad($"PNG color type {colorType} is not valid") };
        var validDepth = colorType == 3 ? depth is 1 or 2 or 4 or 8 : colorType == 0 ? depth is 1 or 2 or 4 or 8 or 16 : depth is 8 or 16;
        if (!validDepth) throw Bad($"PNG bit depth {depth} with color type {colorType} is not supported");
        if (colorType == 3 && palette is null) throw Bad("the PNG palette is missing");

        var bitsPerPixel = samples * depth;
        var stride = (width * bitsPerPixel + 7) / 8;
        var bpp = Math.Max(1, bitsPerPixel / 8);
        var prior = new byte[stride];
        var line = new byte[stride];
        var channels = colorType is 2 or 3 or 6 ? 3 : 1;
        var pixels = new byte[width * height * channels];
        idat.Position = 0;
        // Row by row straight from the inflater, which reads no further than the rows asked for: neither a
        // "zip bomb" nor a huge declared size makes it inflate more than one row ahead of the pixels.
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        Span<byte> filter = stackalloc byte[1];
        for (var y = 0; y < height; y++)
        {
            try
            {
                z.ReadExactly(filter);
                z.ReadExactly(line);
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                // IOException covers truncation and zlib's own refusals (a preset dictionary, a bad checksum).
                throw Bad("the PNG image data is corrupt or truncated");
            }
            Unfilter(filter[0], line, prior, bpp);
            for (var x = 0; x < width; x++)
            {
                var o = (y * width + x) * channels;
                if (colorType == 3)
                {
                    var index = Sample(line, x, depth);
                    if (index * 3 + 2 >= palette!.Length) throw Bad("a PNG palette index is out of range");
                    pixels[o] = palette[index * 3];
                    pixels[o + 1] = palette[index * 3 + 1];
                    pixels[o + 2] = palette[index * 3 + 2];
                }
                else if (depth < 8)
                    // 1, 2 and 4 bits scale to 0..255 exactly (×255, ×85, ×17).
                    pixels[o] = (byte)(Sample(line, x, depth) * 255 / ((1 << depth) - 1));
                else
                    for (var c = 0; c < channels; c++)
                        // 16-bit samples are big-endian; 65535 / 257 = 255, rounded to nearest.
                        pixels[o + c] = depth == 16
                            ? (byte)((BinaryPrimitives.ReadUInt16BigEndian(line.AsSpan((x * samples + c) * 2)) + 128) / 257)
                            : line[x * samples + c];
            }
            (prior, line) = (line, prior);
        }
        return new DecodedImage(width, height, channels, pixels);
    }

    private static int Sample(byte[] line, int x, int depth)
    {
        if (depth == 8) return line[x];
        var bit = x * depth;
        return (line[bit / 8] >> (8 - depth - bit % 8)) & ((1 << depth) - 1);
    }

    private static void Unfilter(byte filter, byte[] line, byte[] prior, int bpp)
    {
        for (var i = 0; i < line.Length; i++)
        {
            int a = i >= bpp ? line[i - bpp] : 0, b = prior[i], c = i >= bpp ? prior[i - bpp] : 0;
            line[i] = filter switch
            {
                0 => line[i],
                1 => (byte)(line[i] + a),
                2 => (byte)(line[i] + b),
                3 => (byte)(line[i] + (a + b) / 2),
                4 => (byte)(line[i] + Paeth(a, b, c)),
                _ => throw Bad($"PNG filter type {filter} is not valid"),
            };
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static DecodedImage DecodePnm(byte[] bytes)
    {
        var kind = bytes[1];
        var pos = 2;
        var width = HeaderInt(bytes, ref pos);
        var height = HeaderInt(bytes, ref pos);
        var max = HeaderInt(bytes, ref pos);
        if (width <= 0 || height <= 0 || (long)width * height > MaxPixels)
            throw Bad($"the image is {width}x{height}; at most {MaxPixels} pixels are accepted");
        if (max is <= 0 or > 65535) throw Bad($"the PNM maximum value {max} is not valid");
        var channels = kind is (byte)'3' or (byte)'6' ? 3 : 1;
        var count = width * height * channels;
        var pixels = new byte[count];
        var scale = 255.0 / max;
        if (kind is (byte)'5' or (byte)'6')
        {
            pos++; // exactly one whitespace byte separates the header from binary data
            var size = max > 255 ? 2 : 1;
            if (pos + (long)count * size > bytes.Length) throw Bad("the PNM image data is truncated");
            for (var i = 0; i < count; i++)
                pixels[i] = (byte)Math.Round(Math.Min(max, size == 1
                    ? bytes[pos + i]
                    : BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(pos + i * 2))) * scale);
        }
        else
            for (var i = 0; i < count; i++)
                pixels[i] = (byte)Math.Round(Math.Min(max, HeaderInt(bytes, ref pos)) * scale);
        return new DecodedImage(width, height, channels, pixels);
    }

    /// <summary>The next ASCII integer, skipping whitespace and # comments.</summary>
    private static int HeaderInt(byte[] bytes, ref int pos)
    {
        while (pos < bytes.Length && (char.IsWhiteSpace((char)bytes[pos]) || bytes[pos] == '#'))
        {
            if (bytes[pos] == '#') while (pos < bytes.Length && bytes[pos] != '\n') pos++;
            else pos++;
        }
        long value = 0;
        var start = pos;
        while (pos < bytes.Length && bytes[pos] is >= (byte)'0' and <= (byte)'9' && pos - start < 9)
            value = value * 10 + (bytes[pos++] - '0');
        if (pos == start) throw Bad("the PNM header or data is corrupt or truncated");
        return (int)value;
    }

    private static RequestException Bad(string message) => RequestException.BadRequest(message);
}
