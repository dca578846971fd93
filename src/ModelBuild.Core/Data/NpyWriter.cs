using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace ModelBuild.Data;

/// <summary>Writes <see cref="NdArray"/> as NumPy .npy (format 1.0, little-endian, C order), readable by <c>np.load</c>.</summary>
public static class NpyWriter
{
    public static void Write(string path, NdArray array)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
        Write(stream, array);
    }

    public static void Write(Stream stream, NdArray array)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(array);
        stream.Write(Header(array));
        WriteData(stream, array);
    }

    /// <summary>Magic, version, length and the padded header dict, exactly as NumPy lays them out.</summary>
    internal static byte[] Header(NdArray array)
    {
        var shape = array.Shape.Length switch
        {
            0 => "()",
            1 => $"({array.Shape[0].ToString(CultureInfo.InvariantCulture)},)",
            _ => "(" + string.Join(", ", array.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
        };
        var dict = $"{{'descr': '{NpyHeader.DescrOf(array.ElementType)}', 'fortran_order': False, 'shape': {shape}, }}";
        // Pad with spaces and end with '\n' so the data starts on a 64-byte boundary (NumPy's alignment).
        const int preamble = 10;
        var total = preamble + dict.Length + 1;
        var padded = (total + 63) / 64 * 64;
        var headerLength = padded - preamble;
        if (headerLength > ushort.MaxValue)
            throw new ArgumentException($"Header for {array} is too long for .npy format 1.0.");
        var bytes = new byte[padded];
        NpyReader.Magic.CopyTo(bytes);
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerLength);
        var body = bytes.AsSpan(preamble);
        body.Fill((byte)' ');
        Encoding.ASCII.GetBytes(dict, body);
        body[^1] = (byte)'\n';
        return bytes;
    }

    private static void WriteData(Stream stream, NdArray array)
    {
        switch (array.Data)
        {
            case float[] a: WriteSpan<float>(stream, a); break;
            case Half[] a: WriteSpan<Half>(stream, a); break;
            case double[] a: WriteSpan<double>(stream, a); break;
            case long[] a: WriteSpan<long>(stream, a); break;
            case int[] a: WriteSpan<int>(stream, a); break;
            case byte[] a: stream.Write(a); break;
            case sbyte[] a: WriteSpan<sbyte>(stream, a); break;
            case bool[] a: WriteSpan<bool>(stream, a); break;
            default: throw new NotSupportedException($"Cannot write {array.ElementType} arrays.");
        }
    }

    private static void WriteSpan<T>(Stream stream, T[] data) where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException(".npy writing assumes a little-endian machine.");
        const int chunk = 1 << 20;
        for (var offset = 0; offset < data.Length; offset += chunk)
            stream.Write(MemoryMarshal.AsBytes(data.AsSpan(offset, Math.Min(chunk, data.Length - offset))));
    }
}
