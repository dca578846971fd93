using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Passes.Quantization;
using Onnx;
using static ModelBuild.Core.Tests.Passes.PassTestKit;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>Exact values on tiny hand-built graphs: the formulas, not just "accuracy stays close".</summary>
public sealed class QuantizationExactTests
{
    private static NdArray Floats(long[] shape, float[] values) => new(TensorElementType.Float32, shape, values);

    [Fact]
    public void Per_channel_weight_scales_and_values_are_exact()
    {
        // Two output channels of a [2, 1, 1, 2] Conv weight: |max| 1.27 → scale 0.01, |max| 2.54 → scale 0.02.
        float[] w = [0.5f, -1.27f, 2.54f, 0.1f];
        var (q, scales) = QuantMath.QuantizeWeights(w, [2, 1, 1, 2], 0, reduceRange: false);
        Assert.Equal(new[] { 0.01f, 0.02f }, scales);
        Assert.Equal(new sbyte[] { 50, -127, 127, 5 }, q);

        // Per tensor: one scale from the overall |max|; reduce_range: 7 bits (±63).
        var (qt, st) = QuantMath.QuantizeWeights(w, [2, 1, 1, 2], -1, reduceRange: false);
        Assert.Equal(new[] { 0.02f }, st);
        Assert.Equal(new sbyte[] { 25, -64, 127, 5 }, qt);
        var (qr, sr) = QuantMath.QuantizeWeights(w, [2, 1, 1, 2], 0, reduceRange: true);
        Assert.Equal(1.27f / 63, sr[0]);
        Assert.Equal(new sbyte[] { 25, -63, 63, 2 }, qr);
    }

    [Fact]
    public void Activation_params_are_uint8_asymmetric_or_symmetric_around_128()
    {
        // [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64.
        var p = QuantMath.Activation(new TensorRange(-1, 3), symmetric: false);
        Assert.Equal(4f / 255, p.Scale);
        Assert.Equal(64, p.ZeroPoint);
        // A Relu output [0, 6]: zero point 0, all 256 levels on the positive side.
        Assert.Equal(new QuantParams(6f / 255, 0), QuantMath.Activation(new TensorRange(0, 6), symmetric: false));
        // The range is widened to include 0 so zero padding is exact.
        Assert.Equal(new QuantParams(2f / 255, 0), QuantMath.Activation(new TensorRange(1, 2), symmetric: false));
        Assert.Equal(new QuantParams(3f / 127, 128), QuantMath.Activation(new TensorRange(-3, 1), symmetric: true));
    }

    [Fact]
    public void Conv_weight_initializers_carry_the_per_channel_scales()
    {
        var model = NewModel(13);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, 1, 1, 3, 3));
        g.Output.Add(Value("y", TensorData.Float, 1, 2, 3, 3));
        g.Initializer.Add(TensorData.FromFloats("w", [2, 1, 1, 1], [0.5f, -2.54f]));
        g.Node.Add(Node("Conv", ["x", "w"], ["c"], "conv"));
        g.Node.Add(Node("Relu", ["c"], ["y"], "relu"));
        var quantizer = new QdqQuantizer(new StaticQuantConfig { PerChannel = true });
        var editor = new GraphEditor(model);
        quantizer.Apply(editor, quantizer.PlanNodes(editor), new Dictionary<string, TensorRange> { ["x"] = new(-1, 1) });

        var q = new GraphEditor(model);
        Assert.Equal(new sbyte[] { 127, -127 }, q.Initializers["w_quantized"].RawData.ToByteArray().Select(v => (sbyte)v).ToArray());
        Assert.Equal(new[] { 0.5f / 127, 2.54f / 127 }, TensorData.ToFloats(q.Initializers["w_scale"]));
        Assert.Equal(TensorData.UInt8, q.Initializers["x_zero_point"].DataType);
        var dq = q.ProducerOf(model.Graph.Node.Single(n => n.OpType == "Conv").Input[1])!;
        Assert.Equal("DequantizeLinear", dq.OpType);
        Assert.Equal(0, GraphEditor.AttrInt(dq, "axis", -1));
    }

    [Fact]
    public void Batch_norm_fold_equals_the_reference_formula()
    {
        var model = NewModel(13);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, 1, 2, 2, 2));
        g.Output.Add(Value("y", TensorData.Float, 1, 2, 2, 2));
        float[] w = [1f, 2f, -1f, 0.5f], b = [0.1f, -0.2f], gamma = [2f, 0.5f], beta = [0.3f, -0.4f], mean = [1f, -1f], variance = [4f, 0.25f];
        g.Initializer.Add(TensorData.FromFloats("w", [2, 2, 1, 1], w));
        g.Initializer.Add(TensorData.FromFloats("b", [2], b));
        foreach (var (name, v) in new[] { ("gamma", gamma), ("beta", beta), ("mean", mean), ("var", variance) })
            g.Initializer.Add(TensorData.FromFloats(name, [2], v));
        g.Node.Add(Node("Conv", ["x", "w", "b"], ["c"], "conv"));
        var bn = Node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["y"], "bn");
        bn.Attribute.Add(new AttributeProto { Name = "epsilon", F = 0f, Type = AttributeProto.Types.AttributeType.Float });
        g.Node.Add(bn);
        using var dir = new TempDir();
        var before = Save(model, dir.Path, "bn.onnx");

        var folded = model.Clone();
        var editor = new GraphEditor(folded);
        Assert.Equal(1, BatchNormFolding.Fold(editor));
        var conv = Assert.Single(folded.Graph.Node);
        Assert.Equal("y", conv.Output[0]);
        // W' = W·γ/√(σ²+ε): channel 0 factor 2/2 = 1, channel 1 factor 0.5/0.5 = 1 … chosen so the rest is visible:
        // b' = (b − μ)·factor + β = (0.1 − 1)·1 + 0.3 = −0.6 and (−0.2 + 1)·1 − 0.4 = 0.4.
        Assert.Equal(new[] { 1f, 2f, -1f, 0.5f }, TensorData.ToFloats(editor.Initializers[conv.Input[1]]));
        Assert.Equal(new[] { -0.6f, 0.4f }, TensorData.ToFloats(editor.Initializers[conv.Input[2]]), new ToleranceComparer(1e-6f));

        var x = new Dictionary<string, NdArray> { ["x"] = Floats([1, 2, 2, 2], Random(8, 3)) };
        var expected = Run(before, x)["y"];
        var actual = Run(Save(folded, dir.Path, "folded.onnx"), x)["y"];
        Assert.Equal((float[])expected.Data, (float[])actual.Data, new ToleranceComparer(1e-5f));
    }

    [Fact]
    public void Batch_norm_fold_scales_each_output_channel()
    {
        var model = NewModel(13);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, 1, 1, 1, 1));
        g.Output.Add(Value("y", TensorData.Float, 1, 2, 1, 1));
        g.Initializer.Add(TensorData.FromFloats("w", [2, 1, 1, 1], [3f, -5f]));
        foreach (var (name, v) in new[] { ("gamma", new[] { 1f, 3f }), ("beta", new[] { 0f, 1f }), ("mean", new[] { 2f, 0f }), ("var", new[] { 3.99f, 8.99f }) })
            g.Initializer.Add(TensorData.FromFloats(name, [2], v));
        g.Node.Add(Node("Conv", ["x", "w"], ["c"], "conv"));
        g.Node.Add(Node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["y"], "bn")); // epsilon default 1e-5
        var editor = new GraphEditor(model);
        BatchNormFolding.Fold(editor);
        var conv = model.Graph.Node.Single();
        float f0 = 1f / MathF.Sqrt(3.99f + 1e-5f), f1 = 3f / MathF.Sqrt(8.99f + 1e-5f);
        Assert.Equal(new[] { 3f * f0, -5f * f1 }, TensorData.ToFloats(editor.Initializers[conv.Input[1]]));
        Assert.Equal(new[] { -2f * f0, 1f }, TensorData.ToFloats(editor.Initializers[conv.Input[2]]));
    }

    [Fact]
    public void Opset_8_graph_is_upgraded_to_13_with_the_same_outputs()
    {
        var model = NewModel(8, irVersion: 3);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, 2, 3));
        g.Output.Add(Value("y", TensorData.Float, 2, 1, 3));
        var clip = Node("Clip", ["x"], ["c"], "clip");
        clip.Attribute.Add(new AttributeProto { Name = "min", F = -0.5f, Type = AttributeProto.Types.AttributeType.Float });
        clip.Attribute.Add(new AttributeProto { Name = "max", F = 0.25f, Type = AttributeProto.Types.AttributeType.Float });
        g.Node.Add(clip);
        g.Node.Add(Node("Dropout", ["c"], ["d"], "dropout"));
        var unsqueeze = Node("Unsqueeze", ["d"], ["y"], "unsqueeze");
        unsqueeze.Attribute.Add(new AttributeProto { Name = "axes", Ints = { 1L }, Type = AttributeProto.Types.AttributeType.Ints });
        g.Node.Add(unsqueeze);
        using var dir = new TempDir();
        var x = new Dictionary<string, NdArray> { ["x"] = Floats([2, 3], [-1f, -0.3f, 0f, 0.2f, 0.7f, 3f]) };
        var expected = (float[])Run(Save(model, dir.Path, "v8.onnx"), x)["y"].Data;

        var editor = new GraphEditor(model);
        OpsetUpgrader.Upgrade(editor, Where);
        Assert.Equal(13, editor.Opset);
        Assert.True(model.IrVersion >= 7);
        Assert.Equal(new[] { "Clip", "Identity", "Unsqueeze" }, model.Graph.Node.Select(n => n.OpType));
        Assert.Equal(new[] { -0.5f }, TensorData.ToFloats(editor.Initializers[model.Graph.Node[0].Input[1]]));
        Assert.Equal(new[] { 0.25f }, TensorData.ToFloats(editor.Initializers[model.Graph.Node[0].Input[2]]));
        Assert.Equal(new[] { 1L }, TensorData.ToInt64s(editor.Initializers[model.Graph.Node[2].Input[1]]));
        var actual = (float[])Run(Save(model, dir.Path, "v13.onnx"), x)["y"].Data;
        Assert.Equal(new[] { -0.5f, -0.3f, 0f, 0.2f, 0.25f, 0.25f }, actual);
        Assert.Equal(expected, actual);
    }

    /// <summary>
    /// Before opset 13 Softmax/LogSoftmax normalize over the whole block flattened at 'axis'; the upgrade must keep
    /// exactly that (ONNX Runtime runs the opset-11 original as the reference), for a middle axis, the last axis, -1.
    /// </summary>
    [Theory]
    [InlineData("Softmax", 1L)]
    [InlineData("Softmax", 3L)]
    [InlineData("LogSoftmax", 2L)]
    [InlineData("Softmax", -1L)]
    public void Opset_11_softmax_family_keeps_its_flattened_meaning(string op, long axis)
    {
        var model = NewModel(11, irVersion: 6);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, 2, 3, 2, 4));
        g.Output.Add(Value("y", TensorData.Float, 2, 3, 2, 4));
        var softmax = Node(op, ["x"], ["y"], "attention_probs");
        softmax.Attribute.Add(new AttributeProto { Name = "axis", I = axis, Type = AttributeProto.Types.AttributeType.Int });
        g.Node.Add(softmax);
        using var dir = new TempDir();
        var values = Enumerable.Range(0, 48).Select(i => MathF.Sin(i * 0.7f) * 3).ToArray();
        var x = new Dictionary<string, NdArray> { ["x"] = Floats([2, 3, 2, 4], values) };
        var expected = (float[])Run(Save(model, dir.Path, "v11.onnx"), x)["y"].Data;

        var editor = new GraphEditor(model);
        OpsetUpgrader.Upgrade(editor, Where);
        editor.TopologicalSort();

        Assert.Equal(13, editor.Opset);
        string[] rewritten = axis == -1 ? [op] : ["Flatten", "Reshape", "Shape", op];
        Assert.Equal(rewritten.Order(StringComparer.Ordinal), model.Graph.Node.Select(n => n.OpType).Order(StringComparer.Ordinal));
        var actual = (float[])Run(Save(model, dir.Path, "v13.onnx"), x)["y"].Data;
        Assert.Equal(expected.Length, actual.Length);
        Assert.All(expected.Zip(actual), p => Assert.Equal(p.First, p.Second, 5));
    }

    [Fact]
    public void Pre_13_upsample_is_refused_with_MB2030()
    {
        var model = NewModel(8, irVersion: 3);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, 1, 1, 2, 2));
        g.Output.Add(Value("y", TensorData.Float, 1, 1, 4, 4));
        var up = Node("Upsample", ["x"], ["y"], "up");
        up.Attribute.Add(new AttributeProto { Name = "scales", Floats = { 1f, 1f, 2f, 2f }, Type = AttributeProto.Types.AttributeType.Floats });
        g.Node.Add(up);
        var e = Assert.Throws<ModelBuildException>(() => OpsetUpgrader.Upgrade(new GraphEditor(model), Where));
        Assert.Equal(DiagnosticCodes.PassFailed, e.Diagnostic.Code);
        Assert.Equal("MB2030", e.Diagnostic.Code);
        Assert.Contains("Upsample", e.Message);
        Assert.Equal(8, new GraphEditor(model).Opset); // refused before anything was rewritten
    }

    /// <summary>
    /// A residual block (Conv→Relu feeding both a Conv and the Add, Add→Relu feeding the next Conv): ONNX Runtime must
    /// turn every Conv into QLinearConv and the Add into QLinearAdd — the ResNet18 case that used to stay float.
    /// </summary>
    [Fact]
    public void Residual_block_fuses_every_conv_and_the_add()
    {
        var model = NewModel(13);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, 1, 4, 6, 6));
        g.Output.Add(Value("y", TensorData.Float, 1, 4, 1, 1));
        for (var i = 0; i < 4; i++)
        {
            g.Initializer.Add(TensorData.FromFloats($"w{i}", [4, 4, 3, 3], Random(144, 10 + i, 0.3f)));
            g.Initializer.Add(TensorData.FromFloats($"b{i}", [4], Random(4, 20 + i, 0.1f)));
        }
        Conv("x", 0, "c0"); g.Node.Add(Node("Relu", ["c0"], ["r0"]));
        Conv("r0", 1, "c1"); g.Node.Add(Node("Relu", ["c1"], ["r1"]));
        Conv("r1", 2, "c2");
        g.Node.Add(Node("Add", ["c2", "r0"], ["s"])); g.Node.Add(Node("Relu", ["s"], ["r2"]));
        Conv("r2", 3, "c3");
        g.Node.Add(Node("GlobalAveragePool", ["c3"], ["y"])); // the graph output stays float, as in ResNet18
        void Conv(string input, int i, string output)
        {
            var n = Node("Conv", [input, $"w{i}", $"b{i}"], [output], $"conv{i}");
            n.Attribute.Add(new AttributeProto { Name = "pads", Ints = { 1L, 1L, 1L, 1L }, Type = AttributeProto.Types.AttributeType.Ints });
            g.Node.Add(n);
        }

        using var dir = new TempDir();
        var fp32 = Save(model, dir.Path, "res.onnx");
        var batches = Enumerable.Range(0, 4).Select(s => (IReadOnlyDictionary<string, NdArray>)new Dictionary<string, NdArray> { ["x"] = Floats([1, 4, 6, 6], Random(144, 100 + s)) }).ToList();
        var quantized = new QdqQuantizer(new StaticQuantConfig { PerChannel = true }).Quantize(model, batches, Where);
        var qdq = Save(quantized, dir.Path, "res-qdq.onnx");
        var optimized = dir.File("res-ort.onnx");
        new OptimizePass(OptimizationLevel.Extended, Where).Run(Context(qdq, optimized));
        var ops = OpCounts(optimized);
        Assert.Equal(4, ops.GetValueOrDefault("QLinearConv"));
        Assert.Equal(1, ops.GetValueOrDefault("QLinearAdd"));
        Assert.False(ops.ContainsKey("Conv"), "no Conv left in float");
        Assert.False(ops.ContainsKey("Add"), "no Add left in float");

        var a = (float[])Run(fp32, batches[0])["y"].Data;
        var b = (float[])Run(qdq, batches[0])["y"].Data;
        Assert.True(Cosine(a, b) > 0.995, $"cosine {Cosine(a, b)}");
    }

    [Fact]
    public void Embedding_rows_are_int8_with_a_scale_per_row()
    {
        var model = NewModel(13);
        var g = model.Graph;
        g.Input.Add(Value("ids", TensorData.Int64, 1, 3));
        g.Output.Add(Value("e", TensorData.Float, 1, 3, 4));
        var table = Random(300 * 4, 5);
        table[7 * 4 + 2] = 12.7f; // row 7: |max| 12.7 → scale 0.1; other rows keep their own finer scale
        g.Initializer.Add(TensorData.FromFloats("table", [300, 4], table));
        g.Node.Add(Node("Gather", ["table", "ids"], ["e"], "embed"));
        using var dir = new TempDir();
        var fp32 = Save(model, dir.Path, "emb.onnx");
        var outPath = dir.File("emb-q.onnx");
        new QuantizeDynamicPass(new DynamicQuantConfig { PerChannel = true }, Where).Run(Context(fp32, outPath));

        var q = new GraphEditor(OnnxModelFile.Load(outPath));
        Assert.Equal(TensorData.Int8, q.Initializers["table_quantized"].DataType);
        Assert.Equal(0.1, TensorData.ToFloats(q.Initializers["table_row_scale"])[7], 6);
        Assert.False(q.Initializers.ContainsKey("table"));
        var ids = new Dictionary<string, NdArray> { ["ids"] = new(TensorElementType.Int64, [1, 3], new long[] { 7, 0, 299 }) };
        var a = (float[])Run(fp32, ids)["e"].Data;
        var b = (float[])Run(outPath, ids)["e"].Data;
        for (var i = 0; i < a.Length; i++)
        {
            var row = i < 4 ? 7 : i < 8 ? 0 : 299;
            var scale = table.Skip(row * 4).Take(4).Max(MathF.Abs) / 127;
            Assert.True(MathF.Abs(a[i] - b[i]) <= scale / 2 + 1e-7f, $"element {i}: {a[i]} vs {b[i]} (scale {scale})");
        }
        Assert.Equal(12.7, b[2], 5);
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, x = 0, y = 0;
        for (var i = 0; i < a.Length; i++) { dot += a[i] * b[i]; x += a[i] * a[i]; y += b[i] * b[i]; }
        return dot / Math.Sqrt(x * y);
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => MathF.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
