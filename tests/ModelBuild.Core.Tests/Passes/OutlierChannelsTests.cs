using ModelBuild.Data;
using ModelBuild.Onnx;
using ModelBuild.Passes.Quantization;
using Onnx;
using static ModelBuild.Core.Tests.Passes.PassTestKit;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>
/// The outlier-channel split before dynamic int8, on x[batch, 64] · W[64, 16] run by ONNX Runtime: one input channel
/// 40× the others (as a transformer's FFN input after GELU has a few).
/// </summary>
public sealed class OutlierChannelsTests
{
    private static ModelProto MatMul()
    {
        var model = NewModel(opset: 13);
        model.Graph.Input.Add(Value("x", 1, -1, 64));
        model.Graph.Initializer.Add(TensorData.FromFloats("w", [64, 16], Random(64 * 16, 3)));
        model.Graph.Node.Add(Node("MatMul", ["x", "w"], ["y"], "mm"));
        model.Graph.Output.Add(Value("y", 1, -1, 16));
        return model;
    }

    /// <summary>16 rows of N(0,1)-like values; the listed channels scaled by 40.</summary>
    private static Dictionary<string, NdArray> Input(int seed, params int[] loud)
    {
        var values = Random(16 * 64, seed);
        for (var r = 0; r < 16; r++)
            foreach (var c in loud) values[r * 64 + c] *= 40;
        return new Dictionary<string, NdArray> { ["x"] = new NdArray(TensorElementType.Float32, [16, 64], values) };
    }

    private static double RelativeError(NdArray expected, NdArray actual)
    {
        var e = expected.ToDoubles();
        var a = actual.ToDoubles();
        return Math.Sqrt(e.Zip(a, (x, y) => (x - y) * (x - y)).Sum() / e.Sum(x => x * x));
    }

    [Fact]
    public void The_split_keeps_the_float_function_and_cuts_the_int8_error()
    {
        using var dir = new TempDir();
        var model = MatMul();
        var split = OutlierChannels.Apply(model, [model.Graph.Node[0]], [Input(1, 5)], Where);
        var side = Assert.Single(split.FloatNodes);
        Assert.Contains("kept 1 of 64 channel(s) of 'x'", Assert.Single(split.Notes));

        var test = Input(2, 5);
        var reference = Run(Save(model, dir.Path, "float.onnx"), test)["y"];
        Assert.True(RelativeError(reference, Run(Save(split.Model, dir.Path, "split.onnx"), test)["y"]) < 1e-6);

        var plain = new DynamicQuantizer(new DynamicQuantConfig()).Quantize(model);
        var withSplit = new DynamicQuantizer(new DynamicQuantConfig { ExcludeNodes = new HashSet<string> { side } }).Quantize(split.Model);
        var plainError = RelativeError(reference, Run(Save(plain, dir.Path, "plain.onnx"), test)["y"]);
        var splitError = RelativeError(reference, Run(Save(withSplit, dir.Path, "int8.onnx"), test)["y"]);
        Assert.True(splitError < plainError / 3, $"int8 relative error {splitError:0.0000} with the split vs {plainError:0.0000} without");
        // The side product really is float: only the main MatMul became integer.
        Assert.Single(withSplit.Graph.Node, n => n.OpType is "MatMulInteger" or "DynamicQuantizeMatMul");
    }

    [Fact]
    public void Tensors_without_outliers_or_with_too_many_are_left_alone()
    {
        var model = MatMul();
        Assert.Empty(OutlierChannels.Apply(model, [model.Graph.Node[0]], [Input(1)], Where).Notes);
        // 3 of 64 channels loud: more than 1/32 of them, a spread rather than outliers.
        Assert.Empty(OutlierChannels.Apply(model, [model.Graph.Node[0]], [Input(1, 1, 2, 3)], Where).Notes);
    }
}
