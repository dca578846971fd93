using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

namespace ModelBuild.Data;

/// <summary>
/// Reads NumPy .npy files (format versions 1.0, 2.0 and 3.0) into <see cref="NdArray"/>.
/// Supported dtypes: f4 f2 f8 i8 i4 u1 b1 i1, little- or big-endian (big-endian is byte-swapped on load);
/// C order only. Anything unreadable, corrupt, truncated or unsupported fails with MB2010 naming the file;
/// sizes are checked against the bytes actually present before anything is allocated.
/// </summary>
public static class NpyReader
{
    /// <summary>Largest header dict accepted. Real headers are ~100 bytes; a bigger one is corrupt or hostile.</summary>
    public const int MaxHeaderBytes = 64 * 1024;

    internal static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NdArray Read(string path)
    {
        using var stream = Open(path);
        return Read(stream, stream.Length, path, entry: null);
    }

    /// <summary>
    /// Reads the array at the stream's position; the rest of the stream must be exactly that one array (trailing bytes
    /// are MB2010). <paramref name="sourceName"/> is the file named in diagnostics.
    /// </summary>
    /// <remarks>A non-seekable stream is buffered first so its length is known before the array is allocated.</remarks>
    public static NdArray Read(Stream stream, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek) return Read(stream, stream.Length - stream.Position, sourceName, entry: null);
        var buffer = Buffer(stream, sourceName, entry: null);
        return Read(buffer, buffer.Length, sourceName, entry: null);
    }

    /// <summary>Reads only the header of the file at <paramref name="path"/>.</summary>
    public static NpyHeader ReadHeader(string path)
    {
        using var stream = Open(path);
        return ReadHeader(stream, stream.Length, path, entry: null);
    }

    /// <summary>
    /// Reads one array from exactly <paramref name="availableBytes"/> bytes of <paramref name="stream"/>:
    /// the header must declare exactly that many bytes in total.
    /// </summary>
    internal static NdArray Read(Stream stream, long availableBytes, string file, string? entry)
    {
        var header = ReadHeader(stream, availableBytes, file, entry);
        if (availableBytes > header.TotalBytes)
            throw Unreadable(file, entry, $"{availableBytes - header.TotalBytes} unexpected bytes follow the array data (shape " +
                $"[{string.Join(",", header.Shape)}] of {header.Descr} needs {header.DataBytes})");
        return Guard(file, entry, () => ReadData(stream, header));
    }

    internal static NpyHeader ReadHeader(Stream stream, long availableBytes, string file, string? entry) =>
        Guard(file, entry, () => ParseHeader(stream, availableBytes, file, entry));

    internal static ModelBuildException Unreadable(string file, string? entry, string what, Exception? inner = null) =>
        new(DiagnosticCodes.DataUnreadable,
            $"Cannot read {(entry is null ? $"'{file}'" : $"array '{entry}' in '{file}'")}: {what}.",
            new SourceLocation(file), inner);

    private static FileStream Open(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw Unreadable(path, null, e.Message.TrimEnd('.'), e);
        }
    }

    private static MemoryStream Buffer(Stream stream, string file, string? entry)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = Guard(file, entry, () => stream.Read(chunk, 0, chunk.Length))) > 0)
        {
            if (buffer.Length + n > Array.MaxLength)
                throw Unreadable(file, entry, "stream is too large to buffer; pass a seekable stream");
            buffer.Write(chunk, 0, n);
        }
        buffer.Position = 0;
        return buffer;
    }

    private static NpyHeader ParseHeader(Stream stream, long available, string file, string? entry)
    {
        Span<byte> pre = stackalloc byte[12];
        if (available < 10)
            throw Unreadable(file, entry, $"only {available} bytes, too short to be a .npy file");
        stream.ReadExactly(pre[..8]);
        if (!pre[..6].SequenceEqual(Magic))
            throw Unreadable(file, entry, "not a .npy file (the magic string \\x93NUMPY is missing)");
        var (major, minor) = (pre[6], pre[7]);
        if (major is < 1 or > 3 || minor != 0)
            throw Unreadable(file, entry, $".npy format version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)");

        int lengthField = major == 1 ? 2 : 4;
        if (available < 8 + lengthField)
            throw Unreadable(file, entry, "file ends inside the .npy preamble");
        stream.ReadExactly(pre.Slice(8, lengthField));
        long headerLength = major == 1
            ? BinaryPrimitives.ReadUInt16LittleEndian(pre[8..])
            : BinaryPrimitives.ReadUInt32LittleEndian(pre[8..]);
        var preamble = 8 + lengthField;
        if (headerLength > MaxHeaderBytes)
            throw Unreadable(file, entry, $"header claims {headerLength} bytes; at most {MaxHeaderBytes} are accepted");
        if (preamble + headerLength > available)
            throw Unreadable(file, entry, $"truncated: header claims {headerLength} bytes but only {available - preamble} remain");

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        // v1/v2 headers are latin-1, v3 UTF-8; a valid one is ASCII either way.
        var text = major == 3 ? new UTF8Encoding(false, true).GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes);

        var (descr, fortran, shape) = NpyHeaderDict.Parse(text);
        if (NpyHeader.ParseDescr(descr) is not { } dtype)
            throw Unreadable(file, entry, $"dtype '{descr}' is not supported (use <f4, <f2, <f8, <i8, <i4, |u1, |i1 or |b1)");
        if (fortran && shape.Count(d => d != 1) > 1)
            throw Unreadable(file, entry, "array is stored in Fortran (column-major) order; save it with np.ascontiguousarray first");
        foreach (var d in shape)
            if (d < 0) throw Unreadable(file, entry, $"shape ({string.Join(", ", shape)}) has a negative dimension");

        long count, dataBytes;
        try
        {
            count = NdArray.ElementCount(shape);
            dataBytes = checked(count * dtype.Size);
        }
        catch (OverflowException)
        {
            throw Unreadable(file, entry, $"shape ({string.Join(", ", shape)}) is too large (its size overflows)");
        }
        var remaining = available - preamble - headerLength;
        if (dataBytes > remaining)
            throw Unreadable(file, entry, $"truncated: shape ({string.Join(", ", shape)}) of {descr} needs {dataBytes} bytes of " +
                $"data but only {remaining} remain");
        if (count > Array.MaxLength)
            throw Unreadable(file, entry, $"{count} elements is more than one array can hold ({Array.MaxLength})");

        return new NpyHeader(descr, dtype.Type, dtype.BigEndian, shape, checked((int)(preamble + headerLength)), dataBytes);
    }

    private static NdArray ReadData(Stream stream, NpyHeader header)
    {
        var count = (int)header.ElementCount;
        Array data = header.ElementType switch
        {
            TensorElementType.Float32 => Fill(stream, new float[count], header.BigEndian),
            TensorElementType.Float16 => Fill(stream, new Half[count], header.BigEndian),
            TensorElementType.Float64 => Fill(stream, new double[count], header.BigEndian),
            TensorElementType.Int64 => Fill(stream, new long[count], header.BigEndian),
            TensorElementType.Int32 => Fill(stream, new int[count], header.BigEndian),
            TensorElementType.UInt8 => Fill(stream, new byte[count], false),
            TensorElementType.Int8 => Fill(stream, new sbyte[count], false),
            TensorElementType.Bool => Fill(stream, new bool[count], false),
            _ => throw new InvalidOperationException($"Unhandled element type {header.ElementType}."),
        };
        return new NdArray(header.ElementType, header.Shape, data);
    }

    private static T[] Fill<T>(Stream stream, T[] array, bool bigEndian) where T : unmanaged
    {
        const int chunk = 1 << 20;
        var swap = bigEndian == BitConverter.IsLittleEndian;
        for (var offset = 0; offset < array.Length; offset += chunk)
        {
            var bytes = MemoryMarshal.AsBytes(array.AsSpan(offset, Math.Min(chunk, array.Length - offset)));
            stream.ReadExactly(bytes);
            if (typeof(T) == typeof(bool))
            {
                // A bool must hold 0 or 1 in .NET; NumPy treats any non-zero byte as True.
                foreach (ref var b in bytes) b = b != 0 ? (byte)1 : (byte)0;
            }
            else if (swap)
            {
                switch (Unsafe.SizeOf<T>())
                {
                    case 2: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ushort>(bytes),
                        MemoryMarshal.Cast<byte, ushort>(bytes)); break;
                    case 4: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, uint>(bytes), MemoryMarshal.Cast<byte, uint>(bytes)); break;
                    case 8: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ulong>(bytes), MemoryMarshal.Cast<byte, ulong>(bytes)); break;
                }
            }
        }
        return array;
    }

    /// <summary>Turns every failure a damaged file or stream can cause into MB2010.</summary>
    private static T Guard<T>(string file, string? entry, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (ModelBuildException)
        {
            throw;
        }
        catch (EndOfStreamException e)
        {
            throw Unreadable(file, entry, "truncated: the data ends early", e);
        }
        catch (NpyFormatException e)
        {
            throw Unreadable(file, entry, $"malformed header: {e.Message}", e);
        }
        catch (DecoderFallbackException e)
        {
            throw Unreadable(file, entry, "malformed header: it is not valid UTF-8", e);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or NotSupportedException)
        {
            throw Unreadable(file, entry, e.Message.TrimEnd('.'), e);
        }
        catch (OutOfMemoryException e)
        {
            throw Unreadable(file, entry, "not enough memory to load it", e);
        }
    }
}
