using ModelBuild.Core.Tests.Passes;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Passes.Quantization;
using ModelBuild.Targets.Tflite;
using Onnx;
using static ModelBuild.Core.Tests.Passes.PassTestKit;

namespace ModelBuild.Core.Tests.Targets;

/// <summary>
/// The TFLite writer's graph rewriting, on the real Fashion CNN and small hand-built graphs: which operators come
/// out, in which layout and precision. Numerics are judged end to end by Arm NN (TfliteExportTests), not here.
/// </summary>
public sealed class TfliteConverterTests
{
    private static readonly TfliteSpec Nhwc = new() { Location = Where };

    private static TfliteOp[] Ops(TfliteModel model) => model.Operators.Select(o => o.Op).ToArray();

    [Fact]
    public void Fashion_cnn_becomes_nhwc_convolutions_with_fused_relus_and_one_transpose_before_flatten()
    {
        var converter = TfliteExporter.Convert(OnnxModelFile.Load(Fashion), Nhwc, Where);
        var model = converter.Model;
        Assert.Equal([1, 28, 28, 1], model.Tensors[model.Inputs[0].Tensor].Shape);
        Assert.Equal([1, 10], model.Tensors[model.Outputs[0].Tensor].Shape);
        Assert.Equal(["input"], model.Inputs.Select(i => i.Name));
        Assert.Equal(["logits"], model.Outputs.Select(o => o.Name));
        // Relu after each Conv and the hidden Gemm is fused; the 7×7 feature map is put back in NCHW order once, for Flatten.
        Assert.DoesNotContain(TfliteOp.Relu, Ops(model));
        Assert.Single(Ops(model), TfliteOp.Transpose);
        var convs = model.Operators.Where(o => o.Op == TfliteOp.Conv2D).ToList();
        Assert.Equal(2, convs.Count);
        Assert.All(convs, c => Assert.Equal(TfliteActivation.Relu, (TfliteActivation)(sbyte)c.Options!.Fields.Single(f => f.Slot == 3).Value));
        // CONV_2D weights are [out, kh, kw, in].
        var firstWeights = model.Tensors[convs[0].Inputs[1]];
        Assert.Equal(1, firstWeights.Shape[^1]);
        Assert.Equal(2, model.Operators.Count(o => o.Op == TfliteOp.FullyConnected));
        Assert.Equal(0, converter.QuantizedOps);
    }

    [Fact]
    public void Static_int8_fashion_is_full_integer_with_per_channel_conv_and_per_tensor_dense_weights()
    {
        using var dir = new TempDir();
        var int8Path = dir.File("int8.onnx");
        new QuantizeStaticPass(new StaticQuantConfig { LatencyAware = false, CalibrationSamples = 64 }, FashionCalibration, Where)
            .Run(Context(Fashion, int8Path));

        var converted = TfliteExporter.Convert(OnnxModelFile.Load(int8Path), Nhwc, Where);
        var tflite = converted.Model;
        Assert.True(converted.QuantizedOps >= 4, $"{converted.QuantizedOps} int8 ops");
        foreach (var conv in tflite.Operators.Where(o => o.Op == TfliteOp.Conv2D))
        {
            var weights = tflite.Tensors[conv.Inputs[1]];
            Assert.Equal(TfliteType.Int8, weights.Type);
            Assert.Equal(weights.Shape[0], weights.Quantization!.Scale.Length);
            Assert.All(weights.Quantization.ZeroPoint, z => Assert.Equal(0, z));
            Assert.Equal(TfliteType.Int32, tflite.Tensors[conv.Inputs[2]].Type);
            Assert.Equal(TfliteType.Int8, tflite.Tensors[conv.Outputs[0]].Type);
        }
        var dense = tflite.Operators.First(o => o.Op == TfliteOp.FullyConnected);
        Assert.Single(tflite.Tensors[dense.Inputs[1]].Quantization!.Scale);
        // Float I/O by default: QUANTIZE in, DEQUANTIZE out.
        Assert.Equal(TfliteType.Float32, tflite.Tensors[tflite.Inputs[0].Tensor].Type);
        Assert.Equal(TfliteOp.Quantize, tflite.Operators[0].Op);

        var int8Io = TfliteExporter.Convert(OnnxModelFile.Load(int8Path), Nhwc with { Io = TfliteIo.Int8 }, Where).Model;
        var input = int8Io.Tensors[int8Io.Inputs[0].Tensor];
        Assert.Equal(TfliteType.Int8, input.Type);
        Assert.NotNull(input.Quantization);
        Assert.DoesNotContain(TfliteOp.Quantize, Ops(int8Io).Take(1));
    }

    [Fact]
    public void Transposes_that_cancel_out_leave_no_transpose()
    {
        // NCHW input → to NHWC → Relu → back to NCHW → Conv: in TFLite the value never leaves NHWC.
        var model = NewModel();
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, -1, 3, 8, 8));
        g.Output.Add(Value("y", TensorData.Float, -1, 4, 8, 8));
        g.Initializer.Add(TensorData.FromFloats("w", [4, 3, 3, 3], Random(108, 1)));
        var toNhwc = Node("Transpose", ["x"], ["a"]);
        toNhwc.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 0, 2, 3, 1 } });
        var back = Node("Transpose", ["b"], ["c"]);
        back.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 0, 3, 1, 2 } });
        var conv = Node("Conv", ["c", "w"], ["y"]);
        conv.Attribute.Add(new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } });
        g.Node.AddRange([toNhwc, Node("Relu", ["a"], ["b"]), back, conv]);

        var tflite = TfliteExporter.Convert(model, Nhwc, Where).Model;
        Assert.Equal([TfliteOp.Relu, TfliteOp.Conv2D], Ops(tflite));
        // pads of 1 around a 3×3 kernel at stride 1 are TFLite's SAME.
        Assert.Equal((sbyte)TflitePadding.Same, tflite.Operators[1].Options!.Fields.Single(f => f.Slot == 0).Value);
    }

    [Fact]
    public void A_written_out_gelu_becomes_one_gelu_operator()
    {
        // x · 0.5 · (1 + erf(x / √2)), as torch.onnx exports nn.GELU.
        var model = NewModel();
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, -1, 16));
        g.Output.Add(Value("y", TensorData.Float, -1, 16));
        g.Initializer.Add(TensorData.FromFloats("sqrt2", [], [MathF.Sqrt(2)]));
        g.Initializer.Add(TensorData.FromFloats("one", [], [1f]));
        g.Initializer.Add(TensorData.FromFloats("half", [], [0.5f]));
        g.Node.AddRange([
            Node("Div", ["x", "sqrt2"], ["d"]), Node("Erf", ["d"], ["e"]), Node("Add", ["e", "one"], ["p"]),
            Node("Mul", ["x", "p"], ["m"]), Node("Mul", ["m", "half"], ["y"]),
        ]);
        var tflite = TfliteExporter.Convert(model, Nhwc, Where).Model;
        Assert.Equal([TfliteOp.Gelu], Ops(tflite));
    }

    [Fact]
    public void An_operator_tflite_lacks_is_refused_naming_the_node_at_the_mobile_key()
    {
        var model = NewModel();
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, -1, 4));
        g.Output.Add(Value("y", TensorData.Float, -1, 4));
        g.Node.Add(Node("Erf", ["x"], ["y"], name: "lonely_erf"));
        var e = Assert.Throws<ModelBuildException>(() => TfliteExporter.Convert(model, Nhwc, Where));
        Assert.Equal(DiagnosticCodes.TfliteUnsupported, e.Diagnostic.Code);
        Assert.Equal(Where, e.Diagnostic.Location);
        Assert.Contains("node 'lonely_erf' (Erf)", e.Diagnostic.Message);
    }
}
