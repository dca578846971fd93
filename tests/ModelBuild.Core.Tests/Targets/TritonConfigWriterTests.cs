using System.Globalization;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Targets;
using static ModelBuild.Core.Tests.Targets.Samples;

namespace ModelBuild.Core.Tests.Targets;

public class TritonConfigWriterTests
{
    [Fact]
    public void Batched_config_omits_the_batch_axis_from_dims()
    {
        var text = TritonConfigWriter.Write("fashion", Cnn(), Spec(8), TritonPlatform.OnnxRuntime);

        Assert.Equal(
            """
            name: "fashion"
            platform: "onnxruntime_onnx"
            max_batch_size: 8
            version_policy: { latest: { num_versions: 1 } }
            input [
              {
                name: "x"
                data_type: TYPE_FP32
                dims: [ 3, 224, 224 ]
              }
            ]
            output [
              {
                name: "logits"
                data_type: TYPE_FP32
                dims: [ 1000 ]
              }
            ]

            """.ReplaceLineEndings("\n"),
            text);
    }

    [Fact]
    public void Fixed_first_axis_with_batching_is_an_error_at_the_manifest_location()
    {
        var ex = Assert.Throws<ModelBuildException>(
            () => TritonConfigWriter.Write("fashion", FixedBatchCnn(), Spec(8), TritonPlatform.OnnxRuntime));

        Assert.Equal(DiagnosticCodes.InvalidValue, ex.Diagnostic.Code);
        Assert.Equal(Where, ex.Diagnostic.Location);
        Assert.Contains("max_batch_size 8 needs a dynamic first axis, but input 'x' is [1,3,224,224]", ex.Message);
    }

    [Fact]
    public void Fixed_first_axis_on_an_output_is_also_an_error()
    {
        var model = new ModelInterface(
            [T("x", TensorElementType.Float32, Dyn("batch"), D(4))],
            [T("y", TensorElementType.Float32, D(10))]);

        var ex = Assert.Throws<ModelBuildException>(
            () => TritonConfigWriter.Write("m", model, Spec(4), TritonPlatform.OnnxRuntime));

        Assert.Equal(DiagnosticCodes.InvalidValue, ex.Diagnostic.Code);
        Assert.Contains("output 'y' is [10]", ex.Message);
    }

    [Fact]
    public void Scalar_tensor_cannot_be_batched()
    {
        var model = new ModelInterface([T("s", TensorElementType.Float32)], [T("y", TensorElementType.Float32, Dyn("n"))]);

        var ex = Assert.Throws<ModelBuildException>(
            () => TritonConfigWriter.Write("m", model, Spec(2), TritonPlatform.OnnxRuntime));

        Assert.Contains("input 's' is []", ex.Message);
    }

    [Fact]
    public void Without_batching_dims_keep_every_axis_and_dynamic_axes_become_minus_one()
    {
        var text = TritonConfigWriter.Write("fashion", Cnn(), Spec(0), TritonPlatform.OnnxRuntime);

        Assert.Contains("max_batch_size: 0\n", text);
        Assert.Contains("dims: [ -1, 3, 224, 224 ]\n", text);
        Assert.Contains("dims: [ -1, 1000 ]\n", text);
    }

    [Fact]
    public void No_spec_means_no_batching_and_fixed_batch_models_are_fine()
    {
        var text = TritonConfigWriter.Write("fashion", FixedBatchCnn(), null, TritonPlatform.OnnxRuntime);

        Assert.Contains("max_batch_size: 0\n", text);
        Assert.Contains("dims: [ 1, 3, 224, 224 ]\n", text);
        Assert.DoesNotContain("dynamic_batching", text);
        Assert.DoesNotContain("instance_group", text);
    }

    [Fact]
    public void Inner_dynamic_axes_become_minus_one_when_batched()
    {
        var model = new ModelInterface(
            [T("tokens", TensorElementType.Int64, Dyn("batch"), Dyn("seq"))],
            [T("hidden", TensorElementType.Float32, Dyn("batch"), Dyn("seq"), D(768))]);

        var text = TritonConfigWriter.Write("bert", model, Spec(16), TritonPlatform.OnnxRuntime);

        Assert.Contains("dims: [ -1 ]\n", text);
        Assert.Contains("dims: [ -1, 768 ]\n", text);
    }

    [Fact]
    public void Tensor_that_is_only_a_batch_axis_becomes_one_element_reshaped_to_a_scalar()
    {
        var model = new ModelInterface(
            [T("id", TensorElementType.Int64, Dyn("batch"))],
            [T("score", TensorElementType.Float32, Dyn("batch"))]);

        var text = TritonConfigWriter.Write("ranker", model, Spec(4), TritonPlatform.OnnxRuntime);

        Assert.Contains(
            """
                name: "id"
                data_type: TYPE_INT64
                dims: [ 1 ]
                reshape: { shape: [ ] }
            """.ReplaceLineEndings("\n"),
            text);
        Assert.Equal(2, text.Split("reshape: { shape: [ ] }").Length - 1);
    }

    [Theory]
    [InlineData(TensorElementType.Float32, "TYPE_FP32")]
    [InlineData(TensorElementType.Float16, "TYPE_FP16")]
    [InlineData(TensorElementType.Float64, "TYPE_FP64")]
    [InlineData(TensorElementType.Int64, "TYPE_INT64")]
    [InlineData(TensorElementType.Int32, "TYPE_INT32")]
    [InlineData(TensorElementType.Int8, "TYPE_INT8")]
    [InlineData(TensorElementType.UInt8, "TYPE_UINT8")]
    [InlineData(TensorElementType.Bool, "TYPE_BOOL")]
    public void Element_types_map_to_triton_data_types(TensorElementType type, string expected)
    {
        Assert.Equal(expected, TritonConfigWriter.DataTypeName(type));
        var model = new ModelInterface([T("a", type, D(2))], [T("b", type, D(2))]);
        var text = TritonConfigWriter.Write("m", model, null, TritonPlatform.OnnxRuntime);
        Assert.Equal(2, text.Split($"data_type: {expected}\n").Length - 1);
    }

    [Fact]
    public void Every_element_type_has_a_mapping()
    {
        foreach (var type in Enum.GetValues<TensorElementType>())
            Assert.StartsWith("TYPE_", TritonConfigWriter.DataTypeName(type));
    }

    [Fact]
    public void Libtorch_platform_names_tensors_by_position()
    {
        var model = new ModelInterface(
            [T("image", TensorElementType.Float32, Dyn("b"), D(1), D(28), D(28)), T("mask", TensorElementType.Bool, Dyn("b"), D(28))],
            [T("logits", TensorElementType.Float32, Dyn("b"), D(10))]);

        var text = TritonConfigWriter.Write("fashion", model, Spec(8), TritonPlatform.PyTorchLibTorch);

        Assert.Contains("platform: \"pytorch_libtorch\"\n", text);
        Assert.Contains("name: \"INPUT__0\"", text);
        Assert.Contains("name: \"INPUT__1\"", text);
        Assert.Contains("name: \"OUTPUT__0\"", text);
        Assert.DoesNotContain("\"image\"", text);
        Assert.True(text.IndexOf("INPUT__0", StringComparison.Ordinal) < text.IndexOf("INPUT__1", StringComparison.Ordinal));
    }

    [Fact]
    public void Dynamic_batching_and_instance_groups_follow_the_spec()
    {
        var spec = Spec(8, new DynamicBatchingSpec { MaxQueueDelayUs = 100, PreferredBatchSizes = [4, 8] },
            new InstanceGroupSpec(InstanceKind.Cpu, 2), new InstanceGroupSpec(InstanceKind.Gpu, 1));

        var text = TritonConfigWriter.Write("fashion", Cnn(), spec, TritonPlatform.OnnxRuntime);

        Assert.EndsWith(
            """
            dynamic_batching {
              preferred_batch_size: [ 4, 8 ]
              max_queue_delay_microseconds: 100
            }
            instance_group [
              {
                count: 2
                kind: KIND_CPU
              },
              {
                count: 1
                kind: KIND_GPU
              }
            ]

            """.ReplaceLineEndings("\n"),
            text);
    }

    [Fact]
    public void Dynamic_batching_without_preferred_sizes_writes_only_the_delay()
    {
        var text = TritonConfigWriter.Write("fashion", Cnn(), Spec(8, new DynamicBatchingSpec { MaxQueueDelayUs = 0 }), TritonPlatform.OnnxRuntime);

        Assert.Contains("dynamic_batching {\n  max_queue_delay_microseconds: 0\n}\n", text);
    }

    public static TheoryData<TritonSpec, string> InvalidSpecs => new()
    {
        { Spec(-1), "max_batch_size must be 0 or more" },
        { Spec(0, new DynamicBatchingSpec { MaxQueueDelayUs = 100 }), "dynamic_batching needs max_batch_size above 0" },
        { Spec(8, new DynamicBatchingSpec { PreferredBatchSizes = [16] }), "preferred batch size 16 must be between 1 and max_batch_size 8" },
        { Spec(8, new DynamicBatchingSpec { PreferredBatchSizes = [0] }), "preferred batch size 0" },
        { Spec(8, new DynamicBatchingSpec { MaxQueueDelayUs = -5 }), "max_queue_delay_us must be 0 or more" },
        { Spec(8, null, new InstanceGroupSpec(InstanceKind.Cpu, 0)), "instance_group count must be 1 or more" },
    };

    [Theory]
    [MemberData(nameof(InvalidSpecs))]
    public void Settings_triton_would_reject_are_errors_at_the_manifest_location(TritonSpec spec, string message)
    {
        var ex = Assert.Throws<ModelBuildException>(() => TritonConfigWriter.Write("fashion", Cnn(), spec, TritonPlatform.OnnxRuntime));

        Assert.Equal(DiagnosticCodes.InvalidValue, ex.Diagnostic.Code);
        Assert.Equal(Where, ex.Diagnostic.Location);
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void Output_is_deterministic_and_culture_independent()
    {
        var spec = Spec(8, new DynamicBatchingSpec { MaxQueueDelayUs = 1500, PreferredBatchSizes = [2, 4] },
            new InstanceGroupSpec(InstanceKind.Gpu, 3));
        var model = new ModelInterface(
            [T("tokens", TensorElementType.Int64, Dyn("batch"), Dyn("seq"))],
            [T("hidden", TensorElementType.Float16, Dyn("batch"), Dyn("seq"), D(1024))]);

        var first = TritonConfigWriter.Write("bert", model, spec, TritonPlatform.OnnxRuntime);
        var saved = CultureInfo.CurrentCulture;
        try
        {
            // sv-SE writes minus as U+2212 and ar-SA/de-DE group digits differently; none of that may leak in.
            foreach (var name in new[] { "sv-SE", "de-DE", "ar-SA", "fa-IR" })
            {
                CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo(name);
                Assert.Equal(first, TritonConfigWriter.Write("bert", model, spec, TritonPlatform.OnnxRuntime));
            }
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }

        Assert.DoesNotContain('\r', first);
        Assert.EndsWith("\n", first);
        Assert.Contains("dims: [ -1, 1024 ]", first);
        Assert.Contains("max_queue_delay_microseconds: 1500\n", first);
    }
}
