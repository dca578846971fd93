using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Passes.Quantization;
using Xunit.Abstractions;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>The real Fashion-MNIST CNN through the real passes, judged by ONNX Runtime on the 1000 test samples.</summary>
public sealed class FashionQuantizationTests(ITestOutputHelper output)
{
    private static readonly Lazy<double> Fp32Top1 = new(() => PassTestKit.FashionTop1(PassTestKit.Fashion));

    private (string Path, PassOutcome Outcome) Quantize(TempDir dir, StaticQuantConfig config, string name, AccuracyTarget? target = null)
    {
        var outPath = dir.File(name);
        var context = PassTestKit.Context(PassTestKit.Fashion, outPath);
        new QuantizeStaticPass(config with { CalibrationSamples = 128 }, PassTestKit.FashionCalibration, PassTestKit.Where, target).Run(context);
        return (outPath, context.Outcome);
    }

    [Fact]
    public void Static_qdq_per_channel_keeps_accuracy_and_shrinks_the_model()
    {
        using var dir = new TempDir();
        var (path, outcome) = Quantize(dir, new StaticQuantConfig { LatencyAware = false, PerChannel = true }, "q.onnx");
        var top1 = PassTestKit.FashionTop1(path);
        var ratio = (double)new FileInfo(path).Length / new FileInfo(PassTestKit.Fashion).Length;
        output.WriteLine($"fp32 top1 {Fp32Top1.Value:0.000} int8 {top1:0.000} size ratio {ratio:0.000}");

        var ops = PassTestKit.OpCounts(path);
        Assert.Equal(8, ops["DequantizeLinear"] - ops["QuantizeLinear"]); // 2 Conv + 2 Gemm weights and their int32 biases
        Assert.True(ops["QuantizeLinear"] >= 4, "activations of both Convs and Gemms are quantized");
        Assert.True(Fp32Top1.Value - top1 <= 0.005, $"top-1 drop {Fp32Top1.Value - top1}");
        Assert.True(ratio <= 0.30, $"size ratio {ratio}");
        // Conv+Relu and Gemm+Relu report under the Relu (folded into the Q); every layer stays close to float.
        Assert.Equal(3, outcome.LayerErrors.Count(e => e.OpType == "Relu" && e.Tensor.Length > 0));
        Assert.All(outcome.LayerErrors, e => Assert.True(e.Cosine > 0.99, $"{e.Node}: cosine {e.Cosine}"));
    }

    [Fact]
    public void QOperator_format_fuses_into_qlinear_ops()
    {
        using var dir = new TempDir();
        var (path, _) = Quantize(dir, new StaticQuantConfig { LatencyAware = false, PerChannel = true, Format = QuantFormat.QOperator }, "qop.onnx");
        var ops = PassTestKit.OpCounts(path);
        output.WriteLine(string.Join(", ", ops.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.Equal(2, ops.GetValueOrDefault("QLinearConv"));
        Assert.False(ops.ContainsKey("Conv"));
        Assert.True(Fp32Top1.Value - PassTestKit.FashionTop1(path) <= 0.005);
    }

    [Theory]
    [InlineData(CalibrationMethod.Percentile)]
    [InlineData(CalibrationMethod.Entropy)]
    public void Histogram_calibrations_keep_accuracy(CalibrationMethod method)
    {
        using var dir = new TempDir();
        var (path, _) = Quantize(dir, new StaticQuantConfig { LatencyAware = false, PerChannel = true, Method = method }, "h.onnx");
        var top1 = PassTestKit.FashionTop1(path);
        output.WriteLine($"{method}: {top1:0.000} vs {Fp32Top1.Value:0.000}");
        Assert.True(Fp32Top1.Value - top1 <= 0.01, $"top-1 drop {Fp32Top1.Value - top1}");
    }

    [Fact]
    public void Excluded_op_types_stay_float()
    {
        using var dir = new TempDir();
        var (path, _) = Quantize(dir, new StaticQuantConfig { LatencyAware = false, PerChannel = true, ExcludeOps = new HashSet<string> { "Gemm" } }, "x.onnx");
        var model = OnnxModelFile.Load(path);
        var g = new GraphEditor(model);
        foreach (var gemm in model.Graph.Node.Where(n => n.OpType == "Gemm"))
            Assert.True(g.Initializers[gemm.Input[1]].DataType == TensorData.Float, "Gemm weight stays float");
        Assert.All(model.Graph.Node.Where(n => n.OpType == "Conv"), c => Assert.Equal("DequantizeLinear", g.ProducerOf(c.Input[1])?.OpType));
    }

    [Fact]
    public void Dynamic_quantizes_the_gemms_and_convs()
    {
        using var dir = new TempDir();
        var outPath = dir.File("d.onnx");
        new QuantizeDynamicPass(new DynamicQuantConfig { LatencyAware = false, PerChannel = true }, PassTestKit.Where).Run(PassTestKit.Context(PassTestKit.Fashion, outPath));
        var ops = PassTestKit.OpCounts(outPath);
        Assert.Equal(2, ops["MatMulInteger"]);
        Assert.Equal(2, ops["ConvInteger"]);
        Assert.False(ops.ContainsKey("Gemm"));
        var top1 = PassTestKit.FashionTop1(outPath);
        Assert.True(Fp32Top1.Value - top1 <= 0.01, $"top-1 drop {Fp32Top1.Value - top1}");
    }

    [Fact]
    public void Fp16_keeps_float32_io_and_outputs()
    {
        using var dir = new TempDir();
        var outPath = dir.File("h.onnx");
        new Fp16Pass(new Fp16Config(), PassTestKit.Where).Run(PassTestKit.Context(PassTestKit.Fashion, outPath));
        var model = OnnxModelFile.Load(outPath);
        Assert.Equal(TensorData.Float, model.Graph.Input[0].Type.TensorType.ElemType);
        Assert.Equal(TensorData.Float, model.Graph.Output[0].Type.TensorType.ElemType);
        Assert.All(model.Graph.Initializer, t => Assert.NotEqual(TensorData.Float, t.DataType));
        var ratio = (double)new FileInfo(outPath).Length / new FileInfo(PassTestKit.Fashion).Length;
        Assert.InRange(ratio, 0.45, 0.55);
        Assert.True(Math.Abs(Fp32Top1.Value - PassTestKit.FashionTop1(outPath)) <= 0.003);
    }
}
