using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;
using static ModelBuild.Core.Tests.Passes.PassTestKit;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>
/// What the ONNX Runtime CPU build the repo ships (Microsoft.ML.OnnxRuntime 1.31.1) accepts for ConvInteger, pinned
/// on tiny graphs (uint8 input; int8 or uint8 weight; one weight zero point, grouped and depthwise alike, results exact).
/// The dynamic Conv rewrite (ConvIntegerQuantizer) is
/// built on these facts, and a runtime upgrade that changes one of them fails here first.
/// </summary>
public sealed class OrtIntegerKernelFactsTests
{
    private const int Channels = 4, Outputs = 4, Size = 5;

    /// <summary>A 3×3, pad 1 ConvInteger of a uint8 input with zero point 3; the weight and its zero point as given.</summary>
    private static string ConvIntegerModel(TempDir dir, TensorProto weight, TensorProto weightZeroPoint, long group)
    {
        var model = NewModel(13);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.UInt8, 1, Channels, Size, Size));
        g.Output.Add(Value("y", TensorData.Int32, 1, Outputs, Size, Size));
        g.Initializer.Add(weight);
        g.Initializer.Add(weightZeroPoint);
        g.Initializer.Add(TensorData.FromUInt8s("x_zp", [], [3]));
        var conv = Node("ConvInteger", ["x", weight.Name, "x_zp", weightZeroPoint.Name], ["y"], "conv");
        conv.Attribute.Add(new AttributeProto { Name = "pads", Ints = { 1L, 1L, 1L, 1L }, Type = AttributeProto.Types.AttributeType.Ints });
        GraphEditor.SetAttr(conv, "group", group);
        g.Node.Add(conv);
        return Save(model, dir.Path, $"convinteger-{Guid.NewGuid():N}.onnx");
    }

    private static byte[] Input() => Enumerable.Range(0, Channels * Size * Size).Select(i => (byte)(i * 37 % 256)).ToArray();

    private static int[] Reference(byte[] x, int[] w, int wZeroPoint, long group)
    {
        var perGroupIn = Channels / (int)group;
        var perGroupOut = Outputs / (int)group;
        var y = new int[Outputs * Size * Size];
        for (var m = 0; m < Outputs; m++)
            for (var oy = 0; oy < Size; oy++)
                for (var ox = 0; ox < Size; ox++)
                {
                    var sum = 0;
                    for (var c = 0; c < perGroupIn; c++)
                        for (var ky = 0; ky < 3; ky++)
                            for (var kx = 0; kx < 3; kx++)
                            {
                                int iy = oy + ky - 1, ix = ox + kx - 1;
                                var xc = m / perGroupOut * perGroupIn + c;
                                // Padding holds the input zero point, so a padded tap contributes 0.
                                var xv = iy < 0 || ix < 0 || iy >= Size || ix >= Size ? 3 : x[(xc * Size + iy) * Size + ix];
                                sum += (xv - 3) * (w[((m * perGroupIn + c) * 3 + ky) * 3 + kx] - wZeroPoint);
                            }
                    y[(m * Size + oy) * Size + ox] = sum;
                }
        return y;
    }

    private static int[] Run(string path) =>
        (int[])PassTestKit.Run(path, new Dictionary<string, NdArray> { ["x"] = new(TensorElementType.UInt8, [1, Channels, Size, Size], Input()) })["y"].Data;

    private static int[] Weights(long group) => Enumerable.Range(0, Outputs * Channels / (int)group * 9).Select(i => i * 53 % 255).ToArray();

    [Theory]
    [InlineData(1L, false)]
    [InlineData(2L, false)]
    [InlineData(4L, false)] // depthwise: one input channel per output channel
    [InlineData(1L, true)]
    [InlineData(2L, true)]
    [InlineData(4L, true)]
    public void ConvInteger_runs_uint8_and_int8_weights_with_a_scalar_zero_point_grouped_and_depthwise_too(long group, bool signedWeights)
    {
        using var dir = new TempDir();
        var w = Weights(group);
        long[] dims = [Outputs, Channels / group, 3, 3];
        // Signed: the same values shifted by −128 with zero point 0 (what the dynamic Conv rewrite writes).
        var path = signedWeights
            ? ConvIntegerModel(dir, TensorData.FromInt8s("w", dims, w.Select(v => (sbyte)(v - 128)).ToArray()), TensorData.FromInt8s("w_zp", [], [0]), group)
            : ConvIntegerModel(dir, TensorData.FromUInt8s("w", dims, w.Select(v => (byte)v).ToArray()), TensorData.FromUInt8s("w_zp", [], [128]), group);
        Assert.Equal(Reference(Input(), w, 128, group), Run(path));
    }

    [Fact]
    public void ConvInteger_refuses_a_zero_point_per_output_channel()
    {
        using var dir = new TempDir();
        var w = Weights(1).Select(v => (byte)v).ToArray();
        var path = ConvIntegerModel(dir, TensorData.FromUInt8s("w", [Outputs, Channels, 3, 3], w),
            TensorData.FromUInt8s("w_zp", [Outputs], [128, 128, 128, 128]), 1);
        var e = Assert.Throws<ModelBuildException>(() => Run(path));
        Assert.Contains("per-tensor", e.Message);
    }
}
