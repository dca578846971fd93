using ModelBuild.Data;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Data;

public class NpyRoundTripTests
{
    public static TheoryData<TensorElementType, long[]> Cases()
    {
        var data = new TheoryData<TensorElementType, long[]>();
        foreach (var type in Enum.GetValues<TensorElementType>())
            foreach (var shape in new[] { Array.Empty<long>(), new long[] { 5 }, new long[] { 2, 3, 4, 5 }, new long[] { 0, 3 } })
                data.Add(type, shape);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void WriterOutputReadsBackIdentically(TensorElementType type, long[] shape)
    {
        var original = Sample(type, shape);
        var stream = new MemoryStream();
        NpyWriter.Write(stream, original);
        stream.Position = 0;

        var read = NpyReader.Read(stream, "mem.npy");

        Assert.Equal(type, read.ElementType);
        Assert.Equal(shape, read.Shape);
        Assert.Equal(original.Data.Cast<object>(), read.Data.Cast<object>());
    }

    [Fact]
    public void WriterPadsHeaderTo64BytesAndEndsWithNewline()
    {
        var stream = new MemoryStream();
        NpyWriter.Write(stream, new NdArray(TensorElementType.Int32, [3], new[] { 1, 2, 3 }));
        var bytes = stream.ToArray();

        Assert.Equal(128 + 12, bytes.Length);
        Assert.Equal((byte)'\n', bytes[127]);
        var dict = System.Text.Encoding.ASCII.GetString(bytes, 10, 118).TrimEnd();
        Assert.Equal("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", dict);
        Assert.Equal(NpyTestBytes.Hex("01000000 02000000 03000000"), bytes[128..]);
    }

    [Fact]
    public void FileRoundTripKeepsNaNAndInfinity()
    {
        using var dir = new TempDir();
        var path = dir.File("x.npy");
        var original = NdArray.Of([float.NaN, float.PositiveInfinity, -0f, 1.5f], 2, 2);
        NpyWriter.Write(path, original);

        var read = NpyReader.Read(path);

        Assert.Equal(original.As<float>(), read.As<float>());
        Assert.Equal([2L, 2L], NpyReader.ReadHeader(path).Shape);
    }

    internal static NdArray Sample(TensorElementType type, long[] shape)
    {
        var n = (int)NdArray.ElementCount(shape);
        Array data = type switch
        {
            TensorElementType.Float32 => Enumerable.Range(0, n).Select(i => i * 0.5f - 3).ToArray(),
            TensorElementType.Float16 => Enumerable.Range(0, n).Select(i => (Half)(i * 0.25 - 1)).ToArray(),
            TensorElementType.Float64 => Enumerable.Range(0, n).Select(i => i * 1e-3 - 7).ToArray(),
            TensorElementType.Int64 => Enumerable.Range(0, n).Select(i => (long)i * 1_000_000_007 - 5).ToArray(),
            TensorElementType.Int32 => Enumerable.Range(0, n).Select(i => i * 65_537 - 9).ToArray(),
            TensorElementType.UInt8 => Enumerable.Range(0, n).Select(i => (byte)(i * 7)).ToArray(),
            TensorElementType.Int8 => Enumerable.Range(0, n).Select(i => (sbyte)(i * 7)).ToArray(),
            TensorElementType.Bool => Enumerable.Range(0, n).Select(i => i % 3 == 0).ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        return new NdArray(type, shape, data);
    }
}
