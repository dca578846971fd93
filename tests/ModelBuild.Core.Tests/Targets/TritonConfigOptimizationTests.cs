using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Targets;
using static ModelBuild.Core.Tests.Targets.Samples;

namespace ModelBuild.Core.Tests.Targets;

/// <summary>optimization, version policy, version folder, warm-up and the tensorrt_plan platform in config.pbtxt.</summary>
public class TritonConfigOptimizationTests
{
    private static TritonOptimizationSpec Opt(AcceleratorKind accelerator, PrecisionKind precision = PrecisionKind.Fp32, int? workspaceMb = null) =>
        new() { Accelerator = accelerator, Precision = precision, MaxWorkspaceMb = workspaceMb, Location = Where };

    private static TritonSpec With(
        int maxBatch = 8, TritonOptimizationSpec? optimization = null, VersionPolicySpec? policy = null, int version = 1,
        WarmupSpec? warmup = null, params InstanceGroupSpec[] groups) => new()
    {
        MaxBatchSize = maxBatch,
        InstanceGroups = groups,
        Optimization = optimization,
        VersionPolicy = policy ?? VersionPolicySpec.Latest,
        Version = version,
        Warmup = warmup,
        Location = Where,
    };

    /// <summary>Every variant this class writes; each must parse against the schema (see the theory below).</summary>
    public static TheoryData<string> Variants() => new()
    {
        TritonConfigWriter.Write("fashion", Cnn(), With(optimization: Opt(AcceleratorKind.TensorRt, PrecisionKind.Fp16, 1024)), TritonPlatform.OnnxRuntime),
        TritonConfigWriter.Write("fashion", Cnn(), With(optimization: Opt(AcceleratorKind.TensorRt, PrecisionKind.Int8)), TritonPlatform.OnnxRuntime),
        TritonConfigWriter.Write("fashion", Cnn(), With(optimization: Opt(AcceleratorKind.OpenVino), groups: [new InstanceGroupSpec(InstanceKind.Cpu, 2)]), TritonPlatform.OnnxRuntime),
        TritonConfigWriter.Write("fashion", Cnn(), With(policy: VersionPolicySpec.All), TritonPlatform.OnnxRuntime),
        TritonConfigWriter.Write("fashion", Cnn(), With(policy: new VersionPolicySpec(VersionPolicyKind.Specific, [1, 3]), version: 3), TritonPlatform.OnnxRuntime),
        TritonConfigWriter.Write("fashion", Cnn(), With(warmup: new WarmupSpec(4)), TritonPlatform.OnnxRuntime),
        TritonConfigWriter.Write("fashion", FixedBatchCnn(), With(maxBatch: 0, warmup: new WarmupSpec(1)), TritonPlatform.OnnxRuntime),
        TritonConfigWriter.Write("fashion", Cnn(), With(warmup: new WarmupSpec(2)), TritonPlatform.PyTorchLibTorch),
        TritonConfigWriter.Write("fashion", Cnn(), With(optimization: Opt(AcceleratorKind.None, PrecisionKind.Fp16)), TritonPlatform.TensorRtPlan),
        TritonConfigWriter.WriteLibTorch("fashion", Cnn(), With(
            optimization: null, policy: VersionPolicySpec.All, warmup: new WarmupSpec(8), groups: [new InstanceGroupSpec(InstanceKind.Gpu, 1)])),
        TritonConfigWriter.Write("ranker",
            new ModelInterface([T("id", TensorElementType.Int64, Dyn("batch"))], [T("s", TensorElementType.Float32, Dyn("batch"))]),
            With(warmup: new WarmupSpec(2)), TritonPlatform.OnnxRuntime),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Every_variant_parses_as_a_triton_model_config(string config)
    {
        var result = Protoc.Encode(config);
        Assert.True(result.ExitCode == 0, $"protoc rejected the config:\n{result.Stderr}\n---\n{config}");
    }

    [Fact]
    public void TensorRt_accelerator_block_is_exactly_the_backend_documented_form()
    {
        var text = TritonConfigWriter.Write("fashion", Cnn(), With(optimization: Opt(AcceleratorKind.TensorRt, PrecisionKind.Fp16, 1024)), TritonPlatform.OnnxRuntime);

        Assert.EndsWith(
            """
            optimization {
              execution_accelerators {
                gpu_execution_accelerator [
                  {
                    name: "tensorrt"
                    parameters { key: "precision_mode" value: "FP16" }
                    parameters { key: "max_workspace_size_bytes" value: "1073741824" }
                  }
                ]
              }
            }

            """.ReplaceLineEndings("\n"), text);

        // protoc's canonical rendering shows the map entries landed in execution_accelerators.
        var canonical = Protoc.Decode(Protoc.Encode(text).Stdout).ReplaceLineEndings("\n");
        Assert.Contains("gpu_execution_accelerator {\n      name: \"tensorrt\"", canonical);
        Assert.Contains("key: \"precision_mode\"\n        value: \"FP16\"", canonical);
    }

    [Fact]
    public void OpenVino_is_a_cpu_accelerator_without_parameters()
    {
        var text = TritonConfigWriter.Write("fashion", Cnn(), With(optimization: Opt(AcceleratorKind.OpenVino)), TritonPlatform.OnnxRuntime);

        Assert.Contains("    cpu_execution_accelerator [\n      {\n        name: \"openvino\"\n      }\n    ]\n", text);
        Assert.DoesNotContain("gpu_execution_accelerator", text);
        Assert.DoesNotContain("parameters", text);
    }

    [Theory]
    [InlineData(PrecisionKind.Fp32, "FP32")]
    [InlineData(PrecisionKind.Fp16, "FP16")]
    [InlineData(PrecisionKind.Int8, "INT8")]
    public void Precision_maps_to_the_backend_precision_mode(PrecisionKind precision, string expected)
    {
        var text = TritonConfigWriter.Write("fashion", Cnn(), With(optimization: Opt(AcceleratorKind.TensorRt, precision)), TritonPlatform.OnnxRuntime);
        Assert.Contains($"parameters {{ key: \"precision_mode\" value: \"{expected}\" }}", text);
        Assert.DoesNotContain("max_workspace_size_bytes", text);
    }

    [Fact]
    public void No_accelerator_writes_no_optimization_block()
    {
        Assert.DoesNotContain("optimization", TritonConfigWriter.Write("fashion", Cnn(), With(optimization: Opt(AcceleratorKind.None)), TritonPlatform.OnnxRuntime));
        Assert.DoesNotContain("optimization", TritonConfigWriter.Write("fashion", Cnn(), With(), TritonPlatform.OnnxRuntime));
    }

    [Fact]
    public void Version_policies()
    {
        Assert.Contains("version_policy: { latest: { num_versions: 1 } }\n", TritonConfigWriter.Write("m", Cnn(), With(), TritonPlatform.OnnxRuntime));
        Assert.Contains("version_policy: { all: { } }\n", TritonConfigWriter.Write("m", Cnn(), With(policy: VersionPolicySpec.All), TritonPlatform.OnnxRuntime));
        var specific = TritonConfigWriter.Write("m", Cnn(), With(policy: new VersionPolicySpec(VersionPolicyKind.Specific, [2, 5]), version: 5), TritonPlatform.OnnxRuntime);
        Assert.Contains("version_policy: { specific: { versions: [ 2, 5 ] } }\n", specific);
        Assert.Contains("versions: 2\n    versions: 5", Protoc.Decode(Protoc.Encode(specific).Stdout).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Warmup_sends_random_data_shaped_like_the_inputs_without_the_batch_axis()
    {
        var model = new ModelInterface(
            [T("image", TensorElementType.Float32, Dyn("b"), D(1), D(28), D(28)), T("ids", TensorElementType.Int64, Dyn("b"), D(5))],
            [T("logits", TensorElementType.Float32, Dyn("b"), D(10))]);
        var text = TritonConfigWriter.Write("fashion", model, With(warmup: new WarmupSpec(4)), TritonPlatform.OnnxRuntime);

        Assert.EndsWith(
            """
            model_warmup [
              {
                name: "random_batch_4"
                batch_size: 4
                inputs {
                  key: "image"
                  value: {
                    data_type: TYPE_FP32
                    dims: [ 1, 28, 28 ]
                    random_data: true
                  }
                }
                inputs {
                  key: "ids"
                  value: {
                    data_type: TYPE_INT64
                    dims: [ 5 ]
                    random_data: true
                  }
                }
              }
            ]

            """.ReplaceLineEndings("\n"), text);
        var canonical = Protoc.Decode(Protoc.Encode(text).Stdout);
        Assert.Contains("random_data: true", canonical);
        Assert.Contains("batch_size: 4", canonical);
    }

    [Fact]
    public void Warmup_of_a_libtorch_model_uses_positional_names()
    {
        var text = TritonConfigWriter.WriteLibTorch("fashion", Cnn(), With(warmup: new WarmupSpec(1)));
        Assert.Contains("      key: \"INPUT__0\"\n", text);
        Assert.DoesNotContain("key: \"x\"", text);
    }

    [Fact]
    public void TensorRt_plan_platform_keeps_onnx_names_and_writes_no_accelerators()
    {
        var text = TritonConfigWriter.Write("fashion", Cnn(), With(optimization: Opt(AcceleratorKind.None, PrecisionKind.Fp16)), TritonPlatform.TensorRtPlan);
        Assert.Contains("platform: \"tensorrt_plan\"\n", text);
        Assert.Contains("name: \"x\"", text);
        Assert.DoesNotContain("optimization", text);
        Assert.Equal("model.plan", TritonLayout.ModelFileName(TritonPlatform.TensorRtPlan));
        Assert.Equal("triton/fashion/3/model.plan", TritonLayout.ModelPath("fashion", TritonPlatform.TensorRtPlan, 3));
    }

    public static TheoryData<TritonSpec, TritonPlatform, string> Invalid => new()
    {
        { With(optimization: Opt(AcceleratorKind.TensorRt)), TritonPlatform.TensorRtPlan, "platform tensorrt_plan has none" },
        { With(optimization: Opt(AcceleratorKind.OpenVino)), TritonPlatform.PyTorchLibTorch, "platform pytorch_libtorch has none" },
        { With(policy: new VersionPolicySpec(VersionPolicyKind.Specific, [2]), version: 1), TritonPlatform.OnnxRuntime, "does not include version 1" },
        { With(warmup: new WarmupSpec(9)), TritonPlatform.OnnxRuntime, "warmup batch_size 9 must be between 1 and 8" },
        { With(maxBatch: 0, warmup: new WarmupSpec(2)), TritonPlatform.OnnxRuntime, "warmup batch_size 2 must be between 1 and 1" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Settings_triton_would_reject_are_errors(TritonSpec spec, TritonPlatform platform, string message)
    {
        var ex = Assert.Throws<ModelBuildException>(() => TritonConfigWriter.Write("fashion", Cnn(), spec, platform));
        Assert.Equal(DiagnosticCodes.InvalidValue, ex.Diagnostic.Code);
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void Warmup_needs_fixed_inner_axes()
    {
        var model = new ModelInterface(
            [T("tokens", TensorElementType.Int64, Dyn("batch"), Dyn("seq"))],
            [T("hidden", TensorElementType.Float32, Dyn("batch"), Dyn("seq"), D(8))]);

        var ex = Assert.Throws<ModelBuildException>(() => TritonConfigWriter.Write("bert", model, With(warmup: new WarmupSpec(1)), TritonPlatform.OnnxRuntime));

        Assert.Contains("warmup needs fixed input shapes (batch axis aside), but input 'tokens' is [batch,seq]", ex.Message);
        Assert.Equal(Where, ex.Diagnostic.Location);
    }

    [Theory]
    [InlineData("tensorrt precision as an enum", "optimization { execution_accelerators { gpu_execution_accelerator [ { name: \"tensorrt\" parameters { key: \"precision_mode\" value: FP16 } } ] } }")]
    [InlineData("accelerator list misplaced", "optimization { gpu_execution_accelerator [ { name: \"tensorrt\" } ] }")]
    [InlineData("two version policies", "version_policy: { latest: { num_versions: 1 } all: { } }")]
    [InlineData("warm-up data as a string", "model_warmup [ { name: \"w\" batch_size: 1 inputs { key: \"x\" value: { data_type: TYPE_FP32 dims: [ 1 ] random_data: \"yes\" } } } ]")]
    [InlineData("warm-up with zero and random data", "model_warmup [ { name: \"w\" inputs { key: \"x\" value: { dims: [ 1 ] zero_data: true random_data: true } } } ]")]
    [InlineData("negative warm-up batch", "model_warmup [ { name: \"w\" batch_size: -1 } ]")]
    [InlineData("specific versions as strings", "version_policy: { specific: { versions: [ \"1\" ] } }")]
    public void Protoc_rejects_broken_optimization_warmup_and_policy_blocks(string why, string block)
    {
        var result = Protoc.Encode("name: \"m\"\n" + block + "\n");
        Assert.True(result.ExitCode != 0, $"protoc accepted a config with {why}");
    }
}
