using System.IO.Compression;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using static ModelBuild.Core.Tests.Data.NpyTestBytes;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Data;

public class NpzTests
{
    private static readonly Dictionary<string, NdArray> Arrays = new()
    {
        ["image"] = NpyRoundTripTests.Sample(TensorElementType.Float32, [2, 3, 4]),
        ["mask"] = NpyRoundTripTests.Sample(TensorElementType.Bool, [2, 5]),
        ["labels"] = NdArray.Of([3L, 1L], 2),
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripsStoredAndDeflated(bool compress)
    {
        using var dir = new TempDir();
        var path = dir.File("d.npz");
        NpzWriter.Write(path, Arrays, compress);

        var read = NpzReader.ReadAll(path);

        Assert.Equal(["image", "mask", "labels"], NpzReader.Names(path));
        Assert.Equal(Arrays.Keys.Order(), read.Keys.Order());
        foreach (var (name, array) in Arrays)
        {
            Assert.Equal(array.Shape, read[name].Shape);
            Assert.Equal(array.Data.Cast<object>(), read[name].Data.Cast<object>());
        }
    }

    [Fact]
    public void ReadsOnlyTheNamedArrays()
    {
        using var dir = new TempDir();
        var path = dir.File("d.npz");
        NpzWriter.Write(path, Arrays);

        var read = NpzReader.Read(path, ["labels"]);

        Assert.Equal(["labels"], read.Keys);
        var e = Fails(DiagnosticCodes.DataMismatch, () => NpzReader.Read(path, ["nope"]));
        Assert.Contains("'image', 'mask', 'labels'", e.Message);
    }

    [Theory]
    [InlineData("../evil.npy")]
    [InlineData("dir/x.npy")]
    [InlineData("dir\\x.npy")]
    public void RejectsEntryNamesWithPathSeparators(string entryName)
    {
        using var dir = new TempDir();
        var path = WriteZip(dir, (entryName, NpyBytes(NdArray.Of([1f], 1))));
        var e = Fails(DiagnosticCodes.DataUnreadable, () => NpzReader.ReadAll(path));
        Assert.Contains("path separators", e.Message);
    }

    [Fact]
    public void RejectsDuplicateEntries()
    {
        using var dir = new TempDir();
        var bytes = NpyBytes(NdArray.Of([1f], 1));
        var path = WriteZip(dir, ("a.npy", bytes), ("a.npy", bytes));
        Assert.Contains("more than once", Fails(DiagnosticCodes.DataUnreadable, () => NpzReader.ReadAll(path)).Message);
    }

    [Fact]
    public void EntryOverTheCapFailsBeforeInflating()
    {
        using var dir = new TempDir();
        var path = dir.File("big.npz");
        NpzWriter.Write(path, new Dictionary<string, NdArray> { ["z"] = NdArray.Of(new float[100_000], 100_000) }, compress: true);

        var e = Fails(DiagnosticCodes.DataUnreadable, () => NpzReader.ReadAll(path, maxArrayBytes: 1000));

        Assert.Contains("over the 1000-byte cap", e.Message);
        Assert.Contains("'z.npy'", e.Message);
    }

    [Fact]
    public void EntryWhoseHeaderDeclaresMoreThanTheEntryHoldsFails()
    {
        using var dir = new TempDir();
        var lying = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }", new byte[16]);
        var path = WriteZip(dir, ("x.npy", lying));
        var e = Fails(DiagnosticCodes.DataUnreadable, () => NpzReader.ReadAll(path));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void EntryWithBytesBeyondTheDeclaredArrayFails()
    {
        using var dir = new TempDir();
        var padded = NpyBytes(NdArray.Of([1f], 1)).Concat(new byte[1000]).ToArray();
        var path = WriteZip(dir, ("x.npy", padded));
        Assert.Contains("unexpected bytes", Fails(DiagnosticCodes.DataUnreadable, () => NpzReader.ReadAll(path)).Message);
    }

    [Fact]
    public void IgnoresEntriesThatAreNotArrays()
    {
        using var dir = new TempDir();
        var path = WriteZip(dir, ("readme.txt", "hello"u8.ToArray()), ("a.npy", NpyBytes(NdArray.Of([1f], 1))));
        Assert.Equal(["a"], NpzReader.ReadAll(path).Keys);
    }

    [Fact]
    public void NotAZipAndEveryTruncationFailWithMb2010()
    {
        using var dir = new TempDir();
        var good = dir.File("good.npz");
        NpzWriter.Write(good, Arrays, compress: true);
        var full = File.ReadAllBytes(good);
        var cut = dir.File("cut.npz");
        for (var length = 0; length < full.Length; length += 3)
        {
            File.WriteAllBytes(cut, full[..length]);
            var e = Fails(DiagnosticCodes.DataUnreadable, () => NpzReader.ReadAll(cut));
            Assert.Equal(cut, e.Diagnostic.Location?.File);
        }
        File.WriteAllBytes(cut, NpyBytes(NdArray.Of([1f], 1)));
        Assert.Contains("not a readable .npz", Fails(DiagnosticCodes.DataUnreadable, () => NpzReader.ReadAll(cut)).Message);
    }

    [Fact]
    public void CorruptedDeflateDataFailsWithMb2010()
    {
        using var dir = new TempDir();
        var good = dir.File("good.npz");
        NpzWriter.Write(good, new Dictionary<string, NdArray> { ["x"] = NpyRoundTripTests.Sample(TensorElementType.Float32, [50, 50]) }, compress: true);
        var bytes = File.ReadAllBytes(good);
        var random = new Random(7);
        var bad = dir.File("bad.npz");
        var failures = 0;
        for (var i = 0; i < 200; i++)
        {
            var copy = (byte[])bytes.Clone();
            copy[random.Next(40, copy.Length / 2)] ^= (byte)random.Next(1, 256); // inside the compressed data
            File.WriteAllBytes(bad, copy);
            var error = Record.Exception(() => NpzReader.ReadAll(bad));
            if (error is null) continue;
            failures++;
            Assert.Equal(DiagnosticCodes.DataUnreadable, Assert.IsType<ModelBuildException>(error).Diagnostic.Code);
        }
        Assert.True(failures > 100, $"only {failures} of 200 corruptions were noticed");
    }

    [Fact]
    public void FlippedDataByteInAStoredEntryFailsTheCrcCheck()
    {
        using var dir = new TempDir();
        var path = dir.File("s.npz");
        NpzWriter.Write(path, new Dictionary<string, NdArray> { ["x"] = NdArray.Of([1f, 2f, 3f, 4f], 4) });
        var bytes = File.ReadAllBytes(path);
        var at = bytes.AsSpan().IndexOf(new byte[] { 0x00, 0x00, 0x40, 0x40 }); // 3.0f in the stored data
        Assert.True(at > 0);
        bytes[at + 3] = 0x41;
        File.WriteAllBytes(path, bytes);

        var e = Fails(DiagnosticCodes.DataUnreadable, () => NpzReader.ReadAll(path));
        Assert.Contains("CRC-32 mismatch", e.Message);
    }

    private static byte[] NpyBytes(NdArray array)
    {
        var stream = new MemoryStream();
        NpyWriter.Write(stream, array);
        return stream.ToArray();
    }

    private static string WriteZip(TempDir dir, params (string Name, byte[] Bytes)[] entries)
    {
        var path = dir.File("t.npz");
        using var archive = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, bytes) in entries)
        {
            using var s = archive.CreateEntry(name).Open();
            s.Write(bytes);
        }
        return path;
    }
}
