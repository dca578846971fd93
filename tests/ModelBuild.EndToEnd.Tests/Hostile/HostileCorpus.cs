using System.IO.Compression;
using System.Text;
using Google.Protobuf;
using Onnx;

namespace ModelBuild.EndToEnd.Tests.Hostile;

/// <summary>
/// Writes the hostile-input corpus under tests/hostile/: one folder per case holding a deploy.yaml, the hostile
/// file(s) and <c>expect</c> (the MB code the run must fail with). Every file is a pure function of this code and
/// the repository's own test assets, so the committed corpus can be checked against it and regenerated.
/// Cases may use <c>valid.onnx</c> / <c>valid.npz</c> (the digits model and data), which the test copies in.
/// </summary>
public static class HostileCorpus
{
    public static string Folder => Path.Combine(RepoPaths.Root, "tests", "hostile");

    /// <summary>The name of a case → its files (relative path → bytes).</summary>
    public static SortedDictionary<string, SortedDictionary<string, byte[]>> Generate()
    {
        var cases = new SortedDictionary<string, SortedDictionary<string, byte[]>>(StringComparer.Ordinal);
        void Case(string name, string code, string yaml, params (string Path, byte[] Bytes)[] files)
        {
            var entry = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
            {
                ["deploy.yaml"] = Utf8(yaml),
                ["expect"] = Utf8(code + "\n"),
            };
            foreach (var (path, bytes) in files) entry[path] = bytes;
            cases.Add(name, entry);
        }

        var validOnnx = File.ReadAllBytes(RepoPaths.Asset("digits-mlp.onnx"));
        var validNpz = File.ReadAllBytes(RepoPaths.Asset("digits-test.npz"));

        // ONNX models.
        Case("onnx-empty", "MB2001", OnnxManifest("model.onnx"), ("model.onnx", []));
        Case("onnx-random-bytes", "MB2001", OnnxManifest("model.onnx"), ("model.onnx", RandomBytes(1, 4096)));
        Case("onnx-truncated", "MB2001", OnnxManifest("model.onnx"), ("model.onnx", validOnnx[..(validOnnx.Length * 6 / 10)]));
        Case("onnx-nested-subgraphs", "MB2001", OnnxManifest("model.onnx"), ("model.onnx", DeeplyNestedOnnx(300)));
        Case("onnx-huge-initializer", "MB2002", OnnxManifest("model.onnx"), ("model.onnx", HugeInitializerOnnx()));
        Case("onnx-external-data-escape", "MB2002", OnnxManifest("model.onnx"), ("model.onnx", ExternalDataOnnx("../../../../../../etc/passwd")));

        // TorchScript archives.
        var validPt = TorchArchive(("m/data.pkl", ModuleWithTensor(4, [4])), ("m/data/0", new byte[16]));
        Case("pt-random-bytes", "MB2001", TorchManifest, ("model.pt", RandomBytes(2, 4096)));
        Case("pt-truncated", "MB2001", TorchManifest, ("model.pt", validPt[..(validPt.Length * 6 / 10)]));
        Case("pt-entry-escapes-root", "MB2001", TorchManifest,
            ("model.pt", TorchArchive(("m/data.pkl", ModuleWithTensor(4, [4])), ("m/data/0", new byte[16]), ("m/../../evil.sh", Utf8("#!/bin/sh\n")))));
        Case("pt-global-os-system", "MB2001", TorchManifest, ("model.pt", TorchArchive(("m/data.pkl", CallGlobal("os", "system", "echo pwned")))));
        Case("pt-global-builtins-eval", "MB2001", TorchManifest, ("model.pt", TorchArchive(("m/data.pkl", CallGlobal("builtins", "eval", "__import__('os').system('echo pwned')")))));
        Case("pt-huge-tensor", "MB2001", TorchManifest, ("model.pt", TorchArchive(("m/data.pkl", ModuleWithTensor(1L << 40, [1L << 40])), ("m/data/0", new byte[16]))));
        Case("pt-zip-bomb", "MB2001", TorchManifest, ("model.pt", TorchArchive(deflate: true, ("m/data.pkl", new byte[80 << 20]))));

        // NumPy data.
        Case("npz-random-bytes", "MB2010", NpzManifest, ("data.npz", RandomBytes(3, 4096)));
        Case("npz-truncated", "MB2010", NpzManifest, ("data.npz", validNpz[..(validNpz.Length / 2)]));
        Case("npz-huge-array", "MB2010", NpzManifest,
            ("data.npz", Zip(false, ("pixels.npy", Npy("<f4", "(1099511627776, 64)", 64)), ("labels.npy", Npy("<i8", "(10,)", 80)))));
        var badLabels = new byte[64];
        BitConverter.GetBytes(4539628424389459968L).CopyTo(badLabels, 3 * 8); // row 3: far outside the 10 classes
        Case("npz-label-out-of-range", "MB2011", NpzManifest,
            ("data.npz", Zip(false, ("pixels.npy", Npy("<f4", "(8, 64)", 8 * 64 * 4)), ("labels.npy", Npy("<i8", "(8,)", badLabels)))));
        Case("npz-entry-escapes", "MB2010", NpzManifest,
            ("data.npz", Zip(false, ("../pixels.npy", Npy("<f4", "(1, 64)", 256)), ("labels.npy", Npy("<i8", "(1,)", 8)))));
        var labels = Npy("<i8", "(10,)", 80);
        Case("npy-random-bytes", "MB2010", NpyManifest, ("x.npy", RandomBytes(4, 4096)), ("labels.npy", labels));
        Case("npy-truncated", "MB2010", NpyManifest, ("x.npy", Npy("<f4", "(10, 64)", 1000)), ("labels.npy", labels));
        Case("npy-huge-shape", "MB2010", NpyManifest, ("x.npy", Npy("<f4", "(1099511627776, 64)", 0)), ("labels.npy", labels));
        Case("npy-overflowing-shape", "MB2010", NpyManifest, ("x.npy", Npy("<f4", "(9223372036854775807, 9223372036854775807)", 0)), ("labels.npy", labels));

        // Manifests.
        Case("yaml-alias-bomb", "MB1013", AliasBomb());
        Case("yaml-deep-nesting", "MB1013", "schema: 1\nmodels: " + new string('[', 5000) + new string(']', 5000) + "\n");
        Case("yaml-random-bytes", "MB1001", Encoding.Latin1.GetString(RandomBytes(5, 2048)));

        // Names that would put outputs outside the output folder.
        Case("name-model-parent-dirs", "MB1006", OnnxManifest("valid.onnx").Replace("name: m", "name: ../../../escaped"));
        Case("name-model-absolute", "MB1006", OnnxManifest("valid.onnx").Replace("name: m", "name: /tmp/escaped"));
        Case("name-variant-parent-dirs", "MB1006", OnnxManifest("valid.onnx") + "    variants:\n      - name: ../../escaped\n        optimize: basic\n");
        Case("name-variant-dotdot", "MB1006", OnnxManifest("valid.onnx") + "    variants:\n      - name: ..\n        optimize: basic\n");
        return cases;
    }

    private static string OnnxManifest(string source) => $"""
        schema: 1
        models:
          - name: m
            source: {source}
            evaluate: {"{"} data: valid.npz, metric: top1 {"}"}

        """;

    private const string TorchManifest = """
        schema: 1
        models:
          - name: m
            source: model.pt
            inputs:
              - name: x
                shape: [1, 4]
                dtype: float32

        """;

    private const string NpzManifest = """
        schema: 1
        models:
          - name: m
            source: valid.onnx
            evaluate: { data: data.npz, metric: top1 }

        """;

    private const string NpyManifest = """
        schema: 1
        models:
          - name: m
            source: valid.onnx
            evaluate:
              data: { inputs: x.npy, labels: labels.npy }
              metric: top1

        """;

    private static byte[] Utf8(string s) => new UTF8Encoding(false).GetBytes(s.ReplaceLineEndings("\n"));

    private static byte[] RandomBytes(int seed, int count)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Billion laughs: ten levels of ten references each, 10^10 strings once expanded.</summary>
    private static string AliasBomb()
    {
        var yaml = new StringBuilder("schema: 1\nlol0: &l0 \"lol\"\n");
        for (var i = 1; i <= 10; i++)
            yaml.Append($"lol{i}: &l{i} [{string.Join(", ", Enumerable.Repeat($"*l{i - 1}", 10))}]\n");
        yaml.Append("models: *l10\n");
        return yaml.ToString();
    }

    /// <summary>A .npy whose header declares <paramref name="shape"/> but holds <paramref name="dataBytes"/> zero bytes (or <c>data</c>).</summary>
    private static byte[] Npy(string descr, string shape, int dataBytes) => Npy(descr, shape, new byte[dataBytes]);

    private static byte[] Npy(string descr, string shape, byte[] data)
    {
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        var headerLength = (10 + dict.Length + 1 + 63) / 64 * 64 - 10;
        var header = dict.PadRight(headerLength - 1) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)headerLength, (byte)(headerLength >> 8) };
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    private static byte[] Zip(bool deflate, params (string Name, byte[] Data)[] entries)
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, data) in entries)
            {
                var entry = zip.CreateEntry(name, deflate ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                entry.LastWriteTime = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero); // reproducible bytes
                using var s = entry.Open();
                s.Write(data);
            }
        return stream.ToArray();
    }

    private static byte[] TorchArchive(params (string Name, byte[] Data)[] entries) => TorchArchive(false, entries);

    private static byte[] TorchArchive(bool deflate, params (string Name, byte[] Data)[] entries) =>
        Zip(deflate, [("m/version", Utf8("3\n")), .. entries]);

    // Protocol-2 pickles written opcode by opcode: what torch.jit.save puts in data.pkl, minus everything optional.
    private static byte[] CallGlobal(string module, string name, string argument) =>
        new Pickle().Global(module, name).Str(argument).Op(0x85).Op((byte)'R').Op((byte)'.').Bytes;

    /// <summary>__torch__.M() whose attribute w is a float tensor over storage '0' of <paramref name="numel"/> elements.</summary>
    private static byte[] ModuleWithTensor(long numel, long[] size)
    {
        var p = new Pickle().Global("__torch__", "M").Op((byte)')').Op(0x81).Op((byte)'}').Str("w")
            .Global("torch._utils", "_rebuild_tensor_v2").Op((byte)'(')
            .Op((byte)'(').Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(numel).Op((byte)'t').Op((byte)'Q')
            .Int(0).Op((byte)'(');
        foreach (var s in size) p.Int(s);
        p.Op((byte)'t').Op((byte)'(');
        for (var i = 0; i < size.Length; i++) p.Int(size.Skip(i + 1).Aggregate(1L, (a, b) => a * b)); // contiguous strides
        p.Op((byte)'t').Op(0x89).Global("collections", "OrderedDict").Op((byte)')').Op((byte)'R')
            .Op((byte)'t').Op((byte)'R').Op((byte)'s').Op((byte)'b').Op((byte)'.');
        return p.Bytes;
    }

    private sealed class Pickle
    {
        private readonly MemoryStream _s = new();
        public Pickle() { _s.WriteByte(0x80); _s.WriteByte(2); }
        public byte[] Bytes => _s.ToArray();
        public Pickle Op(byte op) { _s.WriteByte(op); return this; }
        public Pickle Global(string module, string name) { Op((byte)'c'); _s.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); return this; }
        public Pickle Str(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            Op((byte)'X');
            _s.Write(BitConverter.GetBytes(b.Length));
            _s.Write(b);
            return this;
        }
        public Pickle Int(long v)
        {
            if (v is >= 0 and < 256) return Op((byte)'K').Op((byte)v);
            Op(0x8a).Op(8);
            _s.Write(BitConverter.GetBytes(v));
            return this;
        }
    }

    // ONNX models built from the protobuf classes.
    private static ModelProto Model(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "modelbuild-hostile", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }

    private static ValueInfoProto Float(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } } };
    }

    /// <summary>If nodes whose then-branch holds another If, <paramref name="depth"/> deep: deeper than protobuf's recursion limit.</summary>
    private static byte[] DeeplyNestedOnnx(int depth)
    {
        GraphProto? inner = null;
        for (var i = 0; i < depth; i++)
        {
            var graph = new GraphProto { Name = $"g{i}" };
            var node = new NodeProto { OpType = "If", Name = $"if{i}" };
            node.Input.Add("cond");
            node.Output.Add("y");
            if (inner is not null) node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = inner });
            graph.Node.Add(node);
            inner = graph;
        }
        inner!.Input.Add(Float("cond", 1));
        inner.Output.Add(Float("y", 1));
        return Model(inner).ToByteArray();
    }

    /// <summary>A MatMul whose weight declares 2^20 × 2^20 floats (4 TiB) but carries 16 bytes.</summary>
    private static byte[] HugeInitializerOnnx()
    {
        var graph = new GraphProto { Name = "huge" };
        graph.Input.Add(Float("pixels", 1, 1L << 20));
        graph.Output.Add(Float("probs", 1, 1L << 20));
        var weight = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(new byte[16]) };
        weight.Dims.Add(1L << 20);
        weight.Dims.Add(1L << 20);
        graph.Initializer.Add(weight);
        var node = new NodeProto { OpType = "MatMul", Name = "mm" };
        node.Input.Add("pixels");
        node.Input.Add("w");
        node.Output.Add("probs");
        graph.Node.Add(node);
        return Model(graph).ToByteArray();
    }

    /// <summary>A weight stored as external data at <paramref name="location"/>, outside the model's folder.</summary>
    private static byte[] ExternalDataOnnx(string location)
    {
        var graph = new GraphProto { Name = "external" };
        graph.Input.Add(Float("pixels", 1, 64));
        graph.Output.Add(Float("probs", 1, 10));
        var weight = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        weight.Dims.Add(64);
        weight.Dims.Add(10);
        weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        graph.Initializer.Add(weight);
        var node = new NodeProto { OpType = "MatMul", Name = "mm" };
        node.Input.Add("pixels");
        node.Input.Add("w");
        node.Output.Add("probs");
        graph.Node.Add(node);
        return Model(graph).ToByteArray();
    }
}
