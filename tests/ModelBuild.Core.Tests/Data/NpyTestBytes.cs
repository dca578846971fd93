using System.Buffers.Binary;
using System.Text;
using ModelBuild.Diagnostics;

namespace ModelBuild.Core.Tests.Data;

/// <summary>Builds .npy bytes by hand, independently of NpyWriter, and shared assertions.</summary>
internal static class NpyTestBytes
{
    public static byte[] Npy(string dict, byte[] data, int major = 1, int minor = 0)
    {
        var header = Encoding.ASCII.GetBytes(dict + "\n");
        var lengthField = major == 1 ? 2 : 4;
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, (byte)minor };
        var len = new byte[lengthField];
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length);
        bytes.AddRange(len);
        bytes.AddRange(header);
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    public static ModelBuildException Fails(string code, Action action)
    {
        var e = Assert.Throws<ModelBuildException>(action);
        Assert.Equal(code, e.Diagnostic.Code);
        return e;
    }
}

/// <summary>A temporary directory removed after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("mb-data-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
