using ModelBuild.Data;
using ModelBuild.Diagnostics;
using static ModelBuild.Core.Tests.Data.NpyTestBytes;

namespace ModelBuild.Core.Tests.Data;

/// <summary>Damaged and hostile inputs must end in MB2010, never another exception or a huge allocation.</summary>
public class NpyHardeningTests
{
    private static byte[] ValidFile()
    {
        var stream = new MemoryStream();
        NpyWriter.Write(stream, NdArray.Of([1f, 2f, 3f, 4f, 5f, 6f], 2, 3));
        return stream.ToArray();
    }

    [Fact]
    public void EveryTruncatedPrefixFailsWithMb2010()
    {
        var full = ValidFile();
        Assert.Equal(6, NpyReader.Read(new MemoryStream(full), "ok.npy").Length);
        for (var length = 0; length < full.Length; length++)
        {
            var prefix = full[..length];
            var e = Fails(DiagnosticCodes.DataUnreadable, () => NpyReader.Read(new MemoryStream(prefix), "cut.npy"));
            Assert.Contains("cut.npy", e.Message);
        }
    }

    [Fact]
    public void TruncatedPrefixesFromANonSeekableStreamFailWithMb2010()
    {
        var full = ValidFile();
        for (var length = 0; length < full.Length; length += 7)
            Fails(DiagnosticCodes.DataUnreadable, () => NpyReader.Read(new ForwardOnlyStream(full[..length]), "pipe.npy"));
        Assert.Equal(6, NpyReader.Read(new ForwardOnlyStream(full), "pipe.npy").Length);
    }

    [Fact]
    public void TruncatedFileOnDiskFailsWithMb2010AtTheFile()
    {
        using var dir = new TempDir();
        var path = dir.File("cut.npy");
        File.WriteAllBytes(path, ValidFile()[..100]);
        var e = Fails(DiagnosticCodes.DataUnreadable, () => NpyReader.Read(path));
        Assert.Equal(path, e.Diagnostic.Location?.File);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void MissingFileFailsWithMb2010()
    {
        Fails(DiagnosticCodes.DataUnreadable, () => NpyReader.Read(Path.Combine(Path.GetTempPath(), "no-such-dir-mb", "x.npy")));
    }

    [Fact]
    public void RandomBytesFailWithMb2010()
    {
        var random = new Random(1234);
        for (var i = 0; i < 500; i++)
        {
            var bytes = new byte[random.Next(0, 400)];
            random.NextBytes(bytes);
            if (i % 2 == 0 && bytes.Length >= 8) Magic().CopyTo(bytes, 0); // get past the magic check half the time
            Fails(DiagnosticCodes.DataUnreadable, () => NpyReader.Read(new MemoryStream(bytes), "noise.npy"));
        }
    }

    [Fact]
    public void SingleByteCorruptionsNeverEscapeAsAnotherException()
    {
        var full = ValidFile();
        for (var pos = 0; pos < 128; pos++)
        {
            foreach (var value in new byte[] { 0, 0x7F, 0xFF, (byte)'(', (byte)'9', (byte)'\'' })
            {
                var bytes = (byte[])full.Clone();
                bytes[pos] = value;
                var error = Record.Exception(() => NpyReader.Read(new MemoryStream(bytes), "flip.npy"));
                if (error is not null)
                    Assert.Equal(DiagnosticCodes.DataUnreadable, Assert.IsType<ModelBuildException>(error).Diagnostic.Code);
            }
        }
    }

    [Theory]
    [InlineData("(1000000, 1000000)", "4000000000000 bytes")] // 10^12 elements
    [InlineData("(500000000,)", "2000000000 bytes")]          // fits in one .NET array, so only the size check stops it
    public void HugeDeclaredShapeFailsFastWithoutAllocating(string shape, string declared)
    {
        var bytes = Npy($"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}", new byte[64]);
        var before = GC.GetAllocatedBytesForCurrentThread();

        var e = Fails(DiagnosticCodes.DataUnreadable, () => NpyReader.Read(new MemoryStream(bytes), "huge.npy"));

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the reader allocated for the declared shape");
        Assert.Contains(declared, e.Message);
        Assert.Contains("only 64 remain", e.Message);
    }

    [Fact]
    public void ShapeWhoseSizeOverflowsFailsWithMb2010()
    {
        var bytes = Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", new byte[8]);
        var e = Fails(DiagnosticCodes.DataUnreadable, () => NpyReader.Read(new MemoryStream(bytes), "overflow.npy"));
        Assert.Contains("overflows", e.Message);
    }

    private static byte[] Magic() => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0];

    private sealed class ForwardOnlyStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 5));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
