using ModelBuild.Data;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Passes.Quantization;
using Onnx;
using Xunit.Abstractions;
using static ModelBuild.Core.Tests.Passes.PassTestKit;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>Dynamic int8 of Conv (ConvInteger) and LSTM (DynamicQuantizeLSTM), judged by real ONNX Runtime.</summary>
public sealed class DynamicConvLstmQuantizationTests(ITestOutputHelper output)
{
    private static readonly Lazy<double> Fp32Top1 = new(() => FashionTop1(Fashion));

    private static (string Path, PassOutcome Outcome) QuantizeFashion(TempDir dir, DynamicQuantConfig config)
    {
        var path = dir.File("dynamic.onnx");
        var context = Context(Fashion, path);
        new QuantizeDynamicPass(config, Where).Run(context);
        return (path, context.Outcome);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fashion_convs_become_ConvInteger_and_top1_stays_within_a_point(bool perChannel)
    {
        using var dir = new TempDir();
        var (path, _) = QuantizeFashion(dir, new DynamicQuantConfig { LatencyAware = false, PerChannel = perChannel });
        var ops = OpCounts(path);
        var top1 = FashionTop1(path);
        output.WriteLine($"per_channel {perChannel}: top1 {top1:0.000} (fp32 {Fp32Top1.Value:0.000}); {string.Join(", ", ops.Select(kv => $"{kv.Key}={kv.Value}"))}");
        Assert.Equal(2, ops.GetValueOrDefault("ConvInteger"));
        Assert.Equal(2, ops.GetValueOrDefault("MatMulInteger"));
        Assert.False(ops.ContainsKey("Conv"));
        Assert.True(Fp32Top1.Value - top1 <= 0.01, $"top-1 drop {Fp32Top1.Value - top1}");

        var g = new GraphEditor(OnnxModelFile.Load(path));
        foreach (var conv in g.Graph.Node.Where(n => n.OpType == "ConvInteger"))
        {
            var w = g.Initializers[conv.Input[1]];
            Assert.Equal(TensorData.Int8, w.DataType);
            Assert.Empty(g.Initializers[conv.Input[3]].Dims); // one zero point: ONNX Runtime refuses a vector
            var scale = g.Initializers[g.Graph.Node.Single(n => n.OpType == "Mul" && n.Input.Contains(g.ProducerOf(conv.Input[0])!.Output[1])).Input[1]];
            Assert.Equal(perChannel ? [w.Dims[0], 1, 1] : Array.Empty<long>(), scale.Dims.ToArray());
        }
    }

    [Fact]
    public void Excluding_the_Conv_op_type_keeps_the_convs_float()
    {
        using var dir = new TempDir();
        var (path, _) = QuantizeFashion(dir, new DynamicQuantConfig { LatencyAware = false, PerChannel = true, ExcludeOps = new HashSet<string> { "Conv" } });
        var ops = OpCounts(path);
        Assert.Equal(2, ops.GetValueOrDefault("Conv"));
        Assert.False(ops.ContainsKey("ConvInteger"));
        Assert.Equal(2, ops.GetValueOrDefault("MatMulInteger"));
    }

    [Fact]
    public void Excluding_one_conv_by_name_keeps_only_that_one_float()
    {
        using var dir = new TempDir();
        var pre = QuantPreprocessor.Run(Fashion, dir.Path, Where);
        var first = pre.Graph.Node.First(n => n.OpType == "Conv").Name;
        var (path, _) = QuantizeFashion(dir, new DynamicQuantConfig { LatencyAware = false, PerChannel = true, ExcludeNodes = new HashSet<string> { first } });
        var model = OnnxModelFile.Load(path);
        Assert.Equal(first, model.Graph.Node.Single(n => n.OpType == "Conv").Name);
        Assert.Single(model.Graph.Node, n => n.OpType == "ConvInteger");
    }

    [Fact]
    public void Reduce_range_keeps_conv_weights_within_seven_bits()
    {
        using var dir = new TempDir();
        var (path, _) = QuantizeFashion(dir, new DynamicQuantConfig { LatencyAware = false, PerChannel = true, ReduceRange = true });
        var g = new GraphEditor(OnnxModelFile.Load(path));
        foreach (var conv in g.Graph.Node.Where(n => n.OpType == "ConvInteger"))
        {
            var values = g.Initializers[conv.Input[1]].RawData.Select(b => (sbyte)b).ToArray();
            Assert.InRange(values.Min(), -63, 0);
            Assert.Equal(63, values.Max(v => Math.Abs((int)v)));
        }
        Assert.True(Fp32Top1.Value - FashionTop1(path) <= 0.01);
    }

    private const int Seq = 12, Batch = 3, InputSize = 8, Hidden = 16;

    /// <summary>
    /// A one-layer LSTM (sequence-first X [12, 3, 8], hidden 16) with PyTorch's initialization U(−1/√H, 1/√H) for
    /// W, R and B, bidirectional or forward, feeding a Relu. Y (all steps) and Y_h are outputs; Y_c is not asked for.
    /// </summary>
    private static ModelProto LstmModel(string direction, int seed)
    {
        var dirs = direction == "bidirectional" ? 2 : 1;
        var bound = 1 / MathF.Sqrt(Hidden);
        var model = NewModel(14);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, Seq, Batch, InputSize));
        g.Output.Add(Value("y", TensorData.Float, Seq, dirs, Batch, Hidden));
        g.Output.Add(Value("y_h", TensorData.Float, dirs, Batch, Hidden));
        g.Initializer.Add(TensorData.FromFloats("W", [dirs, 4 * Hidden, InputSize], Random(dirs * 4 * Hidden * InputSize, seed, bound)));
        g.Initializer.Add(TensorData.FromFloats("R", [dirs, 4 * Hidden, Hidden], Random(dirs * 4 * Hidden * Hidden, seed + 1, bound)));
        g.Initializer.Add(TensorData.FromFloats("B", [dirs, 8 * Hidden], Random(dirs * 8 * Hidden, seed + 2, bound)));
        var lstm = Node("LSTM", ["x", "W", "R", "B"], ["y_raw", "y_h", ""], "lstm");
        GraphEditor.SetAttr(lstm, "hidden_size", (long)Hidden);
        lstm.Attribute.Add(new AttributeProto { Name = "direction", S = Google.Protobuf.ByteString.CopyFromUtf8(direction), Type = AttributeProto.Types.AttributeType.String });
        g.Node.Add(lstm);
        g.Node.Add(Node("Relu", ["y_raw"], ["y"], "relu"));
        return model;
    }

    private static NdArray LstmInput(int seed) => new(TensorElementType.Float32, [Seq, Batch, InputSize], Random(Seq * Batch * InputSize, seed, 2f));

    [Theory]
    [InlineData("forward", false)]
    [InlineData("forward", true)]
    [InlineData("bidirectional", false)]
    [InlineData("bidirectional", true)]
    public void Lstm_becomes_DynamicQuantizeLSTM_with_outputs_close_to_float(string direction, bool perChannel)
    {
        using var dir = new TempDir();
        var fp32 = Save(LstmModel(direction, 7), dir.Path, "lstm.onnx");
        var quantized = dir.File("lstm-int8.onnx");
        var context = Context(fp32, quantized);
        new QuantizeDynamicPass(new DynamicQuantConfig { LatencyAware = false, PerChannel = perChannel }, Where).Run(context);

        var model = OnnxModelFile.Load(quantized);
        var node = Assert.Single(model.Graph.Node, n => n.OpType == "DynamicQuantizeLSTM");
        Assert.Equal(LstmQuantizer.Domain, node.Domain);
        Assert.DoesNotContain(model.Graph.Node, n => n.OpType == "LSTM");
        var g = new GraphEditor(model);
        var dirs = direction == "bidirectional" ? 2 : 1;
        Assert.Equal(new long[] { dirs, InputSize, 4 * Hidden }, g.Initializers[node.Input[1]].Dims.ToArray());
        Assert.Equal(perChannel ? [dirs, 4 * Hidden] : new long[] { dirs }, g.Initializers[node.Input[8]].Dims.ToArray());

        foreach (var seed in new[] { 11, 12 })
        {
            var inputs = new Dictionary<string, NdArray> { ["x"] = LstmInput(seed) };
            var a = Run(fp32, inputs);
            var b = Run(quantized, inputs);
            foreach (var name in new[] { "y", "y_h" })
            {
                var cosine = Cosine((float[])a[name].Data, (float[])b[name].Data);
                output.WriteLine($"{direction} per_channel {perChannel} seed {seed} {name}: cosine {cosine:0.000000}");
                Assert.True(cosine >= 0.99, $"{name}: cosine {cosine}");
            }
        }
    }

    [Fact]
    public void Lstm_own_error_is_measured_on_its_first_used_output_when_Y_is_unnamed()
    {
        var model = LstmModel("forward", 5);
        var lstm = model.Graph.Node.Single(n => n.OpType == "LSTM");
        lstm.Output[0] = "";                      // only Y_h is read: the accuracy-aware probe must not look for Y
        model.Graph.Node.Remove(model.Graph.Node.Single(n => n.OpType == "Relu"));
        model.Graph.Output.RemoveAt(0);
        var quantizer = new DynamicQuantizer(new DynamicQuantConfig { LatencyAware = false, PerChannel = true });
        var candidates = quantizer.Candidates(new GraphEditor(model));
        var batches = new[] { (IReadOnlyDictionary<string, NdArray>)new Dictionary<string, NdArray> { ["x"] = LstmInput(1) } };
        var error = Assert.Single(QuantizeDynamicPass.OwnErrors(model, quantizer, candidates, batches));
        output.WriteLine($"{error.Node} on {error.Tensor}: cosine {error.Cosine:0.000000}, relative error {error.RelativeError:0.0000}");
        Assert.Equal("y_h", error.Tensor);
        Assert.True(error.Cosine >= 0.99, $"cosine {error.Cosine}");
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, x = 0, y = 0;
        for (var i = 0; i < a.Length; i++) { dot += a[i] * b[i]; x += a[i] * a[i]; y += b[i] * b[i]; }
        return dot / Math.Sqrt(x * y);
    }
}
