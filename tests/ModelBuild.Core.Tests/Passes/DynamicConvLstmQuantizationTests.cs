using ModelBuild.Data;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Passes.Quantization;
using Onnx;
using Xunit.Abstractions;
using static ModelBuild.Core.Tests.Passes.PassTestKit;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>Dynamic int8 of Conv (ConvInteger), judged by real ONNX Runtime.</summary>
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
        var (path, _) = QuantizeFashion(dir, new DynamicQuantConfig { PerChannel = perChannel });
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
        var (path, _) = QuantizeFashion(dir, new DynamicQuantConfig { PerChannel = true, ExcludeOps = new HashSet<string> { "Conv" } });
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
        var (path, _) = QuantizeFashion(dir, new DynamicQuantConfig { PerChannel = true, ExcludeNodes = new HashSet<string> { first } });
        var model = OnnxModelFile.Load(path);
        Assert.Equal(first, model.Graph.Node.Single(n => n.OpType == "Conv").Name);
        Assert.Single(model.Graph.Node, n => n.OpType == "ConvInteger");
    }

    [Fact]
    public void Reduce_range_keeps_conv_weights_within_seven_bits()
    {
        using var dir = new TempDir();
        var (path, _) = QuantizeFashion(dir, new DynamicQuantConfig { PerChannel = true, ReduceRange = true });
        var g = new GraphEditor(OnnxModelFile.Load(path));
        foreach (var conv in g.Graph.Node.Where(n => n.OpType == "ConvInteger"))
        {
            var values = g.Initializers[conv.Input[1]].RawData.Select(b => (sbyte)b).ToArray();
            Assert.InRange(values.Min(), -63, 0);
            Assert.Equal(63, values.Max(v => Math.Abs((int)v)));
        }
        Assert.True(Fp32Top1.Value - FashionTop1(path) <= 0.01);
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, x = 0, y = 0;
        for (var i = 0; i < a.Length; i++) { dot += a[i] * b[i]; x += a[i] * a[i]; y += b[i] * b[i]; }
        return dot / Math.Sqrt(x * y);
    }
}
