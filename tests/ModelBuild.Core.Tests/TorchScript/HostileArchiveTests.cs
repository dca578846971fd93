using System.IO.Compression;
using System.Text;
using ModelBuild.Diagnostics;
using ModelBuild.TorchScript;

namespace ModelBuild.Core.Tests.TorchScript;

/// <summary>Writes protocol-2 pickles opcode by opcode, so hostile inputs need no Python.</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream _s = new();
    public PickleBuilder() { _s.WriteByte(0x80); _s.WriteByte(2); }
    public PickleBuilder Op(char c) { _s.WriteByte((byte)c); return this; }
    public PickleBuilder Byte(byte b) { _s.WriteByte(b); return this; }
    public PickleBuilder Global(string module, string name) => Op('c').Raw($"{module}\n{name}\n");
    public PickleBuilder StackGlobal(string module, string name) => Str(module).Str(name).Byte(0x93);
    public PickleBuilder Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op('X');
        _s.Write(BitConverter.GetBytes(b.Length));
        _s.Write(b);
        return this;
    }
    public PickleBuilder Int(long v)
    {
        if (v is >= 0 and < 256) return Op('K').Byte((byte)v);
        Byte(0x8a).Byte(8);
        _s.Write(BitConverter.GetBytes(v));
        return this;
    }
    public PickleBuilder Mark() => Op('(');
    public PickleBuilder Tuple() => Op('t');
    public PickleBuilder Ints(params long[] values) { Mark(); foreach (var v in values) Int(v); return Tuple(); }
    public PickleBuilder Raw(string s) { _s.Write(Encoding.ASCII.GetBytes(s)); return this; }
    public PickleBuilder Stop() => Op('.');
    public byte[] Bytes => _s.ToArray();

    /// <summary>__torch__.M() with {name: _rebuild_tensor_v2(storage('0', numel), offset, size, stride)}.</summary>
    public static byte[] ModuleWithTensor(long numel, long offset, long[] size, long[] stride, string storage = "FloatStorage")
    {
        var p = new PickleBuilder().Global("__torch__", "M").Op(')').Byte(0x81).Op('}').Str("w")
            .Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Mark().Str("storage").Global("torch", storage).Str("0").Str("cpu").Int(numel).Tuple().Op('Q')
            .Int(offset).Ints(size).Ints(stride).Byte(0x89).Global("collections", "OrderedDict").Op(')').Op('R')
            .Tuple().Op('R').Op('s').Op('b');
        return p.Stop().Bytes;
    }
}

public sealed class HostileArchiveTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mb-ts-" + Guid.NewGuid().ToString("N"));
    private static readonly SourceLocation Where = new("deploy.yaml", 2, 5);

    public HostileArchiveTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Zip(params (string Name, byte[] Data)[] entries)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".pt");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
            foreach (var (name, data) in entries)
            {
                using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
        return path;
    }

    private string Model(byte[] dataPkl, params (string Name, byte[] Data)[] more) =>
        Zip([("m/version", "3\n"u8.ToArray()), ("m/data.pkl", dataPkl), .. more]);

    private static string Fails(string path, TorchScriptReaderLimits? limits = null)
    {
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptReader.Read(path, Where, limits ?? TorchScriptReaderLimits.Default));
        Assert.Equal(DiagnosticCodes.ModelUnreadable, e.Diagnostic.Code);
        Assert.Contains(path, e.Message);
        return e.Message;
    }

    private static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    [Fact]
    public void A_hand_made_archive_reads()
    {
        var path = Model(PickleBuilder.ModuleWithTensor(4, 1, [3], [1]), ("m/data/0", Floats(1, 2, 3, 4)));
        var archive = TorchScriptReader.Read(path, Where);
        var w = Assert.IsType<TorchTensor>(archive.Root.Attributes["w"]);
        Assert.Equal([2f, 3f, 4f], w.Values.As<float>());
    }

    [Fact]
    public void Strided_views_are_materialized_contiguous()
    {
        // A 2x3 storage read as its transpose: size (3,2), stride (1,3).
        var path = Model(PickleBuilder.ModuleWithTensor(6, 0, [3, 2], [1, 3]), ("m/data/0", Floats(0, 1, 2, 3, 4, 5)));
        var w = Assert.IsType<TorchTensor>(TorchScriptReader.Read(path, Where).Root.Attributes["w"]);
        Assert.Equal([3L, 2], w.Shape);
        Assert.Equal([0f, 3f, 1f, 4f, 2f, 5f], w.Values.As<float>());
    }

    [Theory]
    [InlineData("../evil")]
    [InlineData("m/../../evil")]
    [InlineData("/etc/passwd")]
    [InlineData("m\\..\\evil")]
    [InlineData("C:/evil")]
    public void Entries_escaping_the_root_are_refused(string name)
    {
        var path = Model(PickleBuilder.ModuleWithTensor(1, 0, [1], [1]), ("m/data/0", Floats(1)), (name, [1]));
        Assert.Contains($"entry name '{name}' escapes the archive root", Fails(path));
    }

    [Fact]
    public void Entry_outside_the_root_folder_is_refused()
    {
        var path = Model(PickleBuilder.ModuleWithTensor(1, 0, [1], [1]), ("m/data/0", Floats(1)), ("other/x", [1]));
        Assert.Contains("entry 'other/x' lies outside the archive root 'm/'", Fails(path));
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("subprocess", "Popen")]
    [InlineData("torch", "load")]
    public void Globals_outside_the_allowlist_are_refused(string module, string name)
    {
        var pkl = new PickleBuilder().Global(module, name).Str("echo pwned").Op('\x85').Op('R').Stop().Bytes;
        var message = Fails(Model(pkl));
        Assert.Contains($"pickle global '{module}.{name}' is not allowed", message);
        Assert.Contains("m/data.pkl", message);

        var stackGlobal = new PickleBuilder().StackGlobal(module, name).Str("x").Op('\x85').Op('R').Stop().Bytes;
        Assert.Contains($"pickle global '{module}.{name}' is not allowed", Fails(Model(stackGlobal)));
    }

    /// <summary>PyTorch's quantized-tensor rebuild is refused as it is named, before anything is called, with its own message.</summary>
    [Fact]
    public void Quantized_tensor_global_is_refused_as_a_quantized_model()
    {
        var pkl = new PickleBuilder().Global("torch._utils", "_rebuild_qtensor").Str("echo pwned").Op('\x85').Op('R').Stop().Bytes;
        var path = Model(pkl);
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptReader.Read(path, Where));
        Assert.Equal(DiagnosticCodes.UnsupportedTorchScript, e.Diagnostic.Code);
        Assert.Contains("already quantized by PyTorch (pickle global 'torch._utils._rebuild_qtensor')", e.Message);
    }

    [Fact]
    public void Truncated_archive_is_refused()
    {
        var bytes = File.ReadAllBytes(TorchScriptZooTests.Asset("conv_bn_relu_linear.pt"));
        var path = Path.Combine(_dir, "cut.pt");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.Contains("not a TorchScript zip archive", Fails(path));
    }

    [Fact]
    public void Truncated_pickle_is_refused()
    {
        var pkl = PickleBuilder.ModuleWithTensor(1, 0, [1], [1]);
        Assert.Contains("truncated pickle", Fails(Model(pkl[..(pkl.Length - 10)], ("m/data/0", Floats(1)))));
    }

    [Fact]
    public void Huge_declared_tensor_size_is_refused_before_allocating()
    {
        var path = Model(PickleBuilder.ModuleWithTensor(4, 0, [1L << 40], [1]), ("m/data/0", Floats(1, 2, 3, 4)));
        Assert.Contains("exceeds the limit", Fails(path));
        var overflow = Model(PickleBuilder.ModuleWithTensor(4, 0, [1L << 40, 1L << 40], [1, 1]), ("m/data/0", Floats(1, 2, 3, 4)));
        Assert.Contains("overflows", Fails(overflow));
    }

    [Fact]
    public void Tensor_reaching_past_its_storage_is_refused()
    {
        var path = Model(PickleBuilder.ModuleWithTensor(4, 0, [4], [2]), ("m/data/0", Floats(1, 2, 3, 4)));
        Assert.Contains("reaches element 6 of a storage of 4 elements", Fails(path));
        var offset = Model(PickleBuilder.ModuleWithTensor(4, 3, [2], [1]), ("m/data/0", Floats(1, 2, 3, 4)));
        Assert.Contains("reaches element 4", Fails(offset));
    }

    [Fact]
    public void Storage_declaring_more_elements_than_its_entry_holds_is_refused()
    {
        var path = Model(PickleBuilder.ModuleWithTensor(1L << 40, 0, [2], [1]), ("m/data/0", Floats(1, 2)));
        Assert.Contains("over the limit", Fails(path));
        var small = Model(PickleBuilder.ModuleWithTensor(8, 0, [2], [1]), ("m/data/0", Floats(1, 2)));
        Assert.Contains("storage holds 8 bytes but 8 Float32 elements need 32", Fails(small));
    }

    [Fact]
    public void Missing_storage_and_unsupported_element_types_are_refused()
    {
        Assert.Contains("storage entry m/data/0 is missing", Fails(Model(PickleBuilder.ModuleWithTensor(1, 0, [1], [1]))));
        Assert.Contains("element type torch.BFloat16Storage is not supported",
            Fails(Model(PickleBuilder.ModuleWithTensor(1, 0, [1], [1], "BFloat16Storage"), ("m/data/0", [0, 0]))));
    }

    [Fact]
    public void Garbage_file_and_zip_without_data_pkl_are_refused()
    {
        var junk = Path.Combine(_dir, "junk.pt");
        File.WriteAllBytes(junk, Encoding.ASCII.GetBytes("this is not a zip"));
        Assert.Contains("not a TorchScript zip archive", Fails(junk));
        Assert.Contains("no <root>/data.pkl", Fails(Zip(("m/other", [1]))));
    }

    [Fact]
    public void Root_must_be_a_script_object()
    {
        Assert.Contains("not a script module", Fails(Model(new PickleBuilder().Int(5).Stop().Bytes)));
    }

    [Fact]
    public void Entry_count_and_size_caps_apply()
    {
        var asset = TorchScriptZooTests.Asset("conv_bn_relu_linear.pt");
        Assert.Contains("entries exceed the limit of 5", Fails(asset, new TorchScriptReaderLimits { MaxEntries = 5 }));
        Assert.Contains("over the limit of 100", Fails(asset, new TorchScriptReaderLimits { MaxPickleBytes = 100 }));
        Assert.Contains("code files exceed 1000 bytes", Fails(asset, new TorchScriptReaderLimits { MaxTotalCodeBytes = 1000 }));
        Assert.Contains("tensors exceed 100 bytes", Fails(asset, new TorchScriptReaderLimits { MaxTotalTensorBytes = 100 }));
    }

    [Fact]
    public void Corrupt_storage_bytes_fail_the_crc_check()
    {
        var asset = File.ReadAllBytes(TorchScriptZooTests.Asset("conv_bn_relu_linear.pt"));
        // Stored (uncompressed) entries: flip a byte inside the first storage's payload (data/0 is first).
        var path = Path.Combine(_dir, "crc.pt");
        var bytes = (byte[])asset.Clone();
        var header = Encoding.ASCII.GetBytes("conv_bn_relu_linear/data/0");
        var at = bytes.AsSpan().IndexOf(header) + header.Length;
        var payload = at + BitConverter.ToUInt16(bytes, at - header.Length - 2) + 16; // past the extra field, inside data
        bytes[payload] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        Assert.Contains("CRC-32 mismatch", Fails(path));
    }

    [Fact]
    public void Random_damage_never_escapes_as_another_exception()
    {
        var asset = File.ReadAllBytes(TorchScriptZooTests.Asset("flag_scripted.pt"));
        var rng = new Random(1234);
        var path = Path.Combine(_dir, "fuzz.pt");
        for (var i = 0; i < 300; i++)
        {
            var bytes = (byte[])asset.Clone();
            if (i % 3 == 0) bytes = bytes[..rng.Next(bytes.Length)];
            else for (var k = 0; k < 1 + i % 5; k++) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
            File.WriteAllBytes(path, bytes);
            try { TorchScriptReader.Read(path, Where); }
            catch (ModelBuildException e) { Assert.Equal(DiagnosticCodes.ModelUnreadable, e.Diagnostic.Code); }
        }
    }

    [Fact]
    public void Damaged_pickles_never_escape_as_another_exception()
    {
        // Rebuilt zips with valid CRCs, so the damage reaches the pickle interpreter.
        var pkl = PickleBuilder.ModuleWithTensor(4, 1, [3], [1]);
        var rng = new Random(99);
        for (var i = 0; i < 300; i++)
        {
            var bytes = (byte[])pkl.Clone();
            for (var k = 0; k < 1 + i % 4; k++) bytes[2 + rng.Next(bytes.Length - 2)] = (byte)rng.Next(256);
            var path = Model(bytes, ("m/data/0", Floats(1, 2, 3, 4)));
            try { TorchScriptReader.Read(path, Where); }
            catch (ModelBuildException e) { Assert.Equal(DiagnosticCodes.ModelUnreadable, e.Diagnostic.Code); }
            File.Delete(path);
        }
    }
}
