using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using static ModelBuild.Core.Tests.Data.NpyTestBytes;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Data;

/// <summary>Hand-made header bytes, so the parser is checked without trusting NpyWriter.</summary>
public class NpyParserTests
{
    private static NdArray Read(byte[] bytes) => NpyReader.Read(new MemoryStream(bytes), "fixture.npy");

    [Fact]
    public void ReadsVersion1Float32Matrix()
    {
        // 1.0f = 0x3F800000, -2.5f = 0xC0200000, 0.5f = 0x3F000000 (little-endian bytes below).
        var bytes = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            Hex("0000803F 000020C0 0000003F 00000000 0000803F 000020C0"));

        var a = Read(bytes);

        Assert.Equal(TensorElementType.Float32, a.ElementType);
        Assert.Equal([2L, 3L], a.Shape);
        Assert.Equal([1f, -2.5f, 0.5f, 0f, 1f, -2.5f], a.As<float>());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void ReadsVersion2And3Headers(int major)
    {
        var a = Read(Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
            Hex("FFFFFFFFFFFFFFFF 0001000000000000"), major));
        Assert.Equal([-1L, 256L], a.As<long>());
    }

    [Fact]
    public void AcceptsDoubleQuotesOddSpacingNoTrailingCommaAndLongSuffix()
    {
        var a = Read(Npy("{ \"shape\" :(3L ,) ,\"fortran_order\":False,  \"descr\":\"|u1\"}   ", Hex("01 02 FF")));
        Assert.Equal(TensorElementType.UInt8, a.ElementType);
        Assert.Equal(new byte[] { 1, 2, 255 }, a.As<byte>());
    }

    [Fact]
    public void ByteSwapsBigEndianData()
    {
        var i4 = Read(Npy("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", Hex("00000001 00000100")));
        Assert.Equal([1, 256], i4.As<int>());
        var f8 = Read(Npy("{'descr': '>f8', 'fortran_order': False, 'shape': (), }", Hex("3FF8000000000000")));
        Assert.Equal([1.5], f8.As<double>());
        var f2 = Read(Npy("{'descr': '>f2', 'fortran_order': False, 'shape': (1,), }", Hex("3C00")));
        Assert.Equal([(Half)1], f2.As<Half>());
    }

    [Fact]
    public void ReadsScalarHalfInt8AndBoolWithNonZeroBytesAsTrue()
    {
        Assert.Equal([(Half)(-2)], Read(Npy("{'descr': '<f2', 'fortran_order': False, 'shape': (), }", Hex("00C0"))).As<Half>());
        Assert.Equal(new sbyte[] { -1, 127 }, Read(Npy("{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", Hex("FF7F"))).As<sbyte>());
        var b = Read(Npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", Hex("00 01 07")));
        Assert.Equal([false, true, true], b.As<bool>());
        Assert.Equal([0.0, 1.0, 1.0], b.ToDoubles());
    }

    [Fact]
    public void ReadsEmptyArray()
    {
        var a = Read(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", []));
        Assert.Equal([0L, 4L], a.Shape);
        Assert.Empty(a.As<float>());
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "Fortran")]
    [InlineData("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 2), }", "'<i2' is not supported")]
    [InlineData("{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }", "'|O' is not supported")]
    [InlineData("{'descr': '|f4', 'fortran_order': False, 'shape': (2, 2), }", "'|f4' is not supported")]
    [InlineData("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 2), }", "structured")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", "negative")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (4), }", "not a tuple")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 'a'), }", "non-integer")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "out-of-range")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, }", "no 'shape'")]
    [InlineData("{'descr': '<f4', 'fortran_order': 0, 'shape': (4,), }", "'fortran_order' is not True or False")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", "unexpected key 'x'")]
    [InlineData("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", "repeats the key")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} junk", "unexpected text")]
    [InlineData("{'descr': __import__('os'), 'fortran_order': False, 'shape': (4,)}", "unsupported value")]
    [InlineData("['descr', '<f4']", "where '{' was expected")]
    [InlineData("{'descr': '<f4'", "header ends where '}' was expected")]
    public void RejectsBadHeadersWithMb2010NamingTheProblem(string dict, string expected)
    {
        var e = Fails(DiagnosticCodes.DataUnreadable, () => Read(Npy(dict, new byte[16])));
        Assert.Contains(expected, e.Message);
        Assert.Contains("fixture.npy", e.Message);
        Assert.Equal("fixture.npy", e.Diagnostic.Location?.File);
    }

    [Fact]
    public void FortranOrderIsFineWhenLayoutsCoincide()
    {
        var a = Read(Npy("{'descr': '<i4', 'fortran_order': True, 'shape': (1, 2), }", Hex("01000000 02000000")));
        Assert.Equal([1, 2], a.As<int>());
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(4, 0)]
    public void RejectsUnknownFormatVersions(int major, int minor)
    {
        var e = Fails(DiagnosticCodes.DataUnreadable, () => Read(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new byte[4], major, minor)));
        Assert.Contains("version", e.Message);
    }

    [Fact]
    public void RejectsTrailingBytes()
    {
        var e = Fails(DiagnosticCodes.DataUnreadable, () => Read(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new byte[5])));
        Assert.Contains("1 unexpected bytes", e.Message);
    }

    [Fact]
    public void RejectsHeaderLongerThanTheCap()
    {
        var bytes = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }" + new string(' ', NpyReader.MaxHeaderBytes), new byte[4], major: 2);
        var e = Fails(DiagnosticCodes.DataUnreadable, () => Read(bytes));
        Assert.Contains("at most", e.Message);
    }
}
