using System.Buffers.Binary;
using System.IO.Compression;
using ModelBuild.Diagnostics;
using ModelBuild.Runtime;
using ModelBuild.Onnx;

namespace ModelBuild.Data.Sources;

/// <summary>The header of an idx file (MNIST's format): element type and big-endian dimensions.</summary>
public sealed record IdxHeader(byte Type, long[] Dims, bool Gzipped)
{
    public int HeaderBytes => 4 + 4 * Dims.Length;
    public long SampleBytes => Dims.Length == 1 ? 1 : NdArray.ElementCount(Dims[1..]);
    public long DataBytes => Dims[0] * SampleBytes;
}

/// <summary>
/// MNIST idx files: an idx3-ubyte images file (N×rows×cols bytes) and an optional idx1-ubyte labels file, each
/// raw or gzipped (detected by content, not name). Only unsigned-byte data (type 0x08) is supported.
/// Sizes are checked before anything is allocated: a raw file must be exactly header + data long, a gzipped one
/// must say so in its trailer; short data while streaming is MB2010 too. Pixels become (v / scale − mean) / std.
/// </summary>
public sealed class IdxSource : IEvaluationSource
{
    /// <summary>Caps against absurd headers: samples in one file, values in one sample.</summary>
    public const long MaxSamples = 100_000_000;
    public const long MaxSampleValues = 16L << 20;

    private readonly string _images;
    private readonly IdxHeader _header;
    private readonly TensorInfo _input;
    private readonly long[] _sampleShape;
    private readonly ImagePreprocessing _pre;

    private IdxSource(string images, IdxHeader header, TensorInfo input, long[] sampleShape, ImagePreprocessing pre, NdArray? labels, int count)
    {
        _images = images;
        _header = header;
        _input = input;
        _sampleShape = sampleShape;
        _pre = pre;
        Labels = labels;
        Count = count;
    }

    public int Count { get; }
    public NdArray? Labels { get; }

    public static IdxSource Open(string images, string? labels, ImagePreprocessing pre, IReadOnlyList<TensorInfo> modelInputs,
        int? cap, SourceLocation location)
    {
        var input = SampleShape.Target(modelInputs, null, images, location);
        SampleShape.CheckFloat(input, images, location);
        if (pre.Mean.Length > 1 || pre.Std.Length > 1)
            throw SampleShape.Mismatch(location, $"idx images have one channel, so 'mean' and 'std' take one value each.");
        if (pre.Size is not null || pre.Crop is not null)
            throw SampleShape.Mismatch(location, "idx samples are read at their own size; 'size' and 'crop' apply to image files.");
        var header = ReadHeader(images);
        if (header.Dims.Length < 2)
            throw SampleShape.Unreadable(images, $"an images file has at least 2 dimensions (samples, values...), this one has {header.Dims.Length}");
        var shape = SampleShape.Fit(input, header.Dims[1..], images, location);
        var n = header.Dims[0];

        NdArray? labelArray = null;
        if (labels is not null)
        {
            var lh = ReadHeader(labels);
            if (lh.Dims.Length != 1)
                throw SampleShape.Unreadable(labels, $"a labels file has 1 dimension, this one has {lh.Dims.Length}");
            if (lh.Dims[0] != n)
                throw SampleShape.Mismatch(location, $"'{images}' holds {n} images but '{labels}' holds {lh.Dims[0]} labels; they must match.");
            labelArray = ReadLabels(labels, lh, (int)Math.Min(n, cap ?? n));
        }
        if (n == 0) throw SampleShape.Mismatch(location, $"'{images}' holds no samples.");
        var count = (int)Math.Min(n, cap ?? n);
        return new IdxSource(images, header, input, shape, pre, labelArray, count);
    }

    public IEnumerable<IReadOnlyDictionary<string, NdArray>> Batches(int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        using var stream = OpenData(_images, _header);
        var sample = (int)_header.SampleBytes;
        var bytes = new byte[Math.Min(batchSize, Count) * sample];
        for (var start = 0; start < Count; start += batchSize)
        {
            var size = Math.Min(batchSize, Count - start);
            Fill(stream, bytes.AsSpan(0, size * sample), _images);
            var values = new float[size * sample];
            for (var i = 0; i < values.Length; i++) values[i] = _pre.Normalize(bytes[i], 0);
            yield return new Dictionary<string, NdArray>(StringComparer.Ordinal)
            {
                [_input.Name] = SampleShape.ToInputType(_input, [size, .. _sampleShape], values),
            };
        }
    }

    public static IdxHeader ReadHeader(string path)
    {
        using var stream = OpenFile(path, out var gzipped, out var length);
        Span<byte> magic = stackalloc byte[4];
        Fill(stream, magic, path);
        if (magic[0] != 0 || magic[1] != 0)
            throw SampleShape.Unreadable(path, "it is not an idx file (the first two bytes must be zero)");
        if (magic[2] != 0x08)
            throw SampleShape.Unreadable(path, $"idx element type 0x{magic[2]:X2} is not supported; only unsigned bytes (0x08, as MNIST uses) are");
        if (magic[3] is < 1 or > 4)
            throw SampleShape.Unreadable(path, $"it declares {magic[3]} dimensions; 1 to 4 are supported");
        var dims = new long[magic[3]];
        Span<byte> dim = stackalloc byte[4];
        for (var i = 0; i < dims.Length; i++)
        {
            Fill(stream, dim, path);
            dims[i] = BinaryPrimitives.ReadUInt32BigEndian(dim);
        }
        var header = new IdxHeader(magic[2], dims, gzipped);
        if (dims[0] > MaxSamples)
            throw SampleShape.Unreadable(path, $"it declares {dims[0]} samples; at most {MaxSamples} are supported");
        if (dims.Length > 1 && (dims[1..].Any(d => d == 0) || header.SampleBytes > MaxSampleValues))
            throw SampleShape.Unreadable(path, $"a sample of [{string.Join(",", dims[1..])}] is empty or over {MaxSampleValues} values");
        var expected = header.HeaderBytes + header.DataBytes;
        // The size check comes before any data is read: a raw file must be exactly this long; gzip's trailer holds
        // the uncompressed size mod 2^32, so a lying header or a cut file is caught without decompressing.
        if (!gzipped && length != expected)
            throw SampleShape.Unreadable(path, $"its header promises {expected} bytes ([{string.Join(",", dims)}] of " +
                $"uint8) but the file has {length}");
        if (gzipped && GzipSize(path) != (uint)expected)
            throw SampleShape.Unreadable(path, $"its header promises {expected} bytes ([{string.Join(",", dims)}] of uint8) but the gzip stream " +
                $"holds {GzipSize(path)} (mod 2^32)");
        return header;
    }

    private static NdArray ReadLabels(string path, IdxHeader header, int count)
    {
        using var stream = OpenData(path, header);
        var bytes = new byte[count];
        Fill(stream, bytes, path);
        var labels = new long[count];
        for (var i = 0; i < count; i++) labels[i] = bytes[i];
        return NdArray.Of(labels, count);
    }

    /// <summary>The stream positioned at the data, after the header.</summary>
    private static Stream OpenData(string path, IdxHeader header)
    {
        var stream = OpenFile(path, out _, out _);
        try
        {
            Fill(stream, new byte[header.HeaderBytes], path);
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static Stream OpenFile(string path, out bool gzipped, out long length)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw SampleShape.Unreadable(path, e.Message.TrimEnd('.'), e);
        }
        length = file.Length;
        var b0 = file.ReadByte();
        var b1 = file.ReadByte();
        file.Position = 0;
        gzipped = b0 == 0x1f && b1 == 0x8b;
        return gzipped ? new BufferedStream(new GZipStream(file, CompressionMode.Decompress), 1 << 16) : file;
    }

    private static uint GzipSize(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (file.Length < 18) throw SampleShape.Unreadable(path, "the gzip stream is truncated");
        file.Position = file.Length - 4;
        Span<byte> size = stackalloc byte[4];
        file.ReadExactly(size);
        return BinaryPrimitives.ReadUInt32LittleEndian(size);
    }

    private static void Fill(Stream stream, Span<byte> buffer, string path)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException e)
        {
            throw SampleShape.Unreadable(path, "the data is truncated", e);
        }
        catch (InvalidDataException e)
        {
            throw SampleShape.Unreadable(path, $"the gzip stream is corrupt ({e.Message.TrimEnd('.')})", e);
        }
        catch (IOException e)
        {
            throw SampleShape.Unreadable(path, e.Message.TrimEnd('.'), e);
        }
    }
}
