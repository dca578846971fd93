using ImageLayout = ModelBuild.Runtime.ImageLayout;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Manifest;

/// <summary>deploy.triton optimization/platform/versions/warmup and deploy.kserve: values, defaults and located errors.</summary>
public sealed class ManifestDeployTargetsTests
{
    private static ManifestWorkspace Workspace() => new("models/m.onnx", "models/t.pt");

    /// <summary>A one-model manifest (ONNX source) with the given deploy block, indented under the model.</summary>
    private static string WithDeploy(string deploy, string source = "models/m.onnx", string extra = "") =>
        "schema: 1\nmodels:\n  - name: m\n    source: " + source + "\n" + extra + "    deploy:\n"
        + string.Join("", deploy.Split('\n').Select(l => "      " + l + "\n"));

    /// <summary>1-based line and column of the first occurrence of <paramref name="needle"/>.</summary>
    private static (int Line, int Column) At(string yaml, string needle)
    {
        var i = yaml.IndexOf(needle, StringComparison.Ordinal);
        Assert.True(i >= 0, needle);
        var line = yaml[..i].Count(c => c == '\n') + 1;
        return (line, i - (yaml.LastIndexOf('\n', i - 1) + 1) + 1);
    }

    private static void Expect(string yaml, string needle, string message, string code = "MB1004")
    {
        using var ws = Workspace();
        var (line, column) = At(yaml, needle);
        var d = ws.ExpectSingle(yaml, code, line, column);
        Assert.Contains(message, d.Message);
    }

    [Fact]
    public void Every_new_key_binds_to_its_value()
    {
        using var ws = Workspace();
        var m = ws.Parse(WithDeploy("""
            triton:
              max_batch_size: 8
              instance_group: [ { kind: gpu, count: 2 } ]
              optimization: { accelerator: tensorrt, precision: fp16, max_workspace_mb: 2048 }
              version: 3
              version_policy: { specific: [2, 3] }
              warmup: { batch_size: 4 }
            kserve:
              storage_uri: s3://models/fashion
              runtime: my-triton
              min_replicas: 1
              max_replicas: 4
              scale_target: 10
              scale_metric: rps
              resources: { cpu: 2, memory: 4Gi, gpu: 1 }
            """));
        Assert.Empty(ws.Diagnostics);
        var d = m!.Models[0].Deploy;
        var t = d.Triton!;
        Assert.Equal(TritonBackendKind.OnnxRuntime, t.Platform);
        Assert.Equal(AcceleratorKind.TensorRt, t.Optimization!.Accelerator);
        Assert.Equal(PrecisionKind.Fp16, t.Optimization.Precision);
        Assert.Equal(2048, t.Optimization.MaxWorkspaceMb);
        Assert.Equal(3, t.Version);
        Assert.Equal(VersionPolicyKind.Specific, t.VersionPolicy.Kind);
        Assert.Equal([2L, 3L], t.VersionPolicy.Versions);
        Assert.Equal(new WarmupSpec(4), t.Warmup);
        var k = d.KServe!;
        Assert.Equal("s3://models/fashion", k.StorageUri);
        Assert.Equal("my-triton", k.Runtime);
        Assert.Equal((1, 4, 10), (k.MinReplicas!.Value, k.MaxReplicas!.Value, k.ScaleTarget!.Value));
        Assert.Equal(ScaleMetricKind.Rps, k.ScaleMetric);
        Assert.Equal(("2", "4Gi", 1), (k.Cpu, k.Memory, k.Gpu!.Value));
    }

    [Fact]
    public void Short_forms_and_defaults()
    {
        using var ws = Workspace();
        var m = ws.Parse(WithDeploy("""
            triton: { max_batch_size: 4, warmup: true, version_policy: all, optimization: { accelerator: openvino } }
            kserve: true
            """));
        Assert.Empty(ws.Diagnostics);
        var d = m!.Models[0].Deploy;
        Assert.Equal(new WarmupSpec(1), d.Triton!.Warmup);
        Assert.Equal(VersionPolicyKind.All, d.Triton.VersionPolicy.Kind);
        Assert.Equal(1, d.Triton.Version);
        Assert.Equal(AcceleratorKind.OpenVino, d.Triton.Optimization!.Accelerator);
        Assert.Equal(KServeSpec.DefaultRuntime, d.KServe!.Runtime);
        Assert.Null(d.KServe.StorageUri);

        using var ws2 = Workspace();
        var plain = ws2.Parse(WithDeploy("triton: { max_batch_size: 4, warmup: false }\nkserve: false"))!.Models[0].Deploy;
        Assert.Null(plain.KServe);
        Assert.Null(plain.Triton!.Warmup);
        Assert.Equal(VersionPolicySpec.Latest, plain.Triton.VersionPolicy);
        Assert.Equal(TritonBackendKind.OnnxRuntime, plain.Triton.Platform);
    }

    [Fact]
    public void TensorRt_platform_with_docker_is_valid()
    {
        using var ws = Workspace();
        var m = ws.Parse(WithDeploy("triton: { max_batch_size: 8, platform: tensorrt, optimization: { precision: int8 } }\ndocker: triton"));
        Assert.Empty(ws.Diagnostics);
        Assert.Equal(TritonBackendKind.TensorRt, m!.Models[0].Deploy.Triton!.Platform);
        Assert.Equal(PrecisionKind.Int8, m.Models[0].Deploy.Triton!.Optimization!.Precision);
    }

    public static TheoryData<string, string, string> Errors => new()
    {
        { "triton: { optimization: { acelerator: tensorrt } }", "acelerator", "did you mean 'accelerator'?" },
        { "triton: { optimization: { accelerator: tensorrt, precision: half } }", "half", "expected one of: fp32, fp16, int8" },
        { "triton: { optimization: { precision: fp16 } }", "precision", "'optimization.precision' is a TensorRT setting" },
        { "triton: { optimization: { accelerator: openvino, max_workspace_mb: 64 } }", "max_workspace_mb", "is a TensorRT setting" },
        { "triton: { instance_group: [ { kind: cpu } ], optimization: { accelerator: tensorrt } }", "accelerator", "every instance_group is kind cpu" },
        { "triton: { instance_group: [ { kind: gpu } ], optimization: { accelerator: openvino } }", "accelerator", "every instance_group is kind gpu" },
        { "triton: { platform: tensorrt, optimization: { accelerator: tensorrt } }\ndocker: triton", "accelerator", "applies to 'platform: onnxruntime' only" },
        { "triton: { platform: tensorrt }", "tensorrt", "needs 'docker: triton'" },
        { "triton: { platform: tensorrt }\ndocker: triton\nkserve: true", "kserve", "holds no engine" },
        { "triton: { platform: onnx }", "onnx", "expected one of: onnxruntime, tensorrt, pytorch" },
        { "triton: { version: 0 }", "0", "'deploy.triton.version' must be between 1" },
        { "triton: { version: 2, version_policy: { specific: [1] } }", "[1]", "does not list version 2" },
        { "triton: { version_policy: { specific: [] } }", "[]", "must list at least one version" },
        { "triton: { version_policy: newest }", "newest", "expected one of: latest, all" },
        { "triton: { max_batch_size: 4, warmup: { batch_size: 8 } }", "8", "larger than max_batch_size 4" },
        { "triton: { warmup: { batch_size: 2 } }", "2", "the only size a model without batching" },
        { "triton: { warmup: yes }", "yes", "must be true or false" },
        { "kserve: { min_replicas: 3, max_replicas: 2 }", "2", "'kserve.max_replicas' (2) must be at least 'min_replicas' (3)" },
        { "kserve: { scale_metric: latency }", "latency", "expected one of: concurrency, rps, cpu, memory" },
        { "kserve: { resources: { memory: 4 GB } }", "4 GB", "Kubernetes quantity" },
        { "kserve: { resources: { cpu: -1 } }", "-1", "Kubernetes quantity" },
        { "kserve: { storage_uri: models/triton }", "models/triton", "must be a URI" },
        { "kserve: { runtime: Triton_Server }", "Triton_Server", "Kubernetes resource name" },
        // A trailing newline (YAML escape) must not slip past patterns anchored with $.
        { "kserve: { runtime: \"my-triton\\n\" }", "\"my-triton", "Kubernetes resource name" },
        { "kserve: { storage_uri: \"s3://models/fashion\\n\" }", "\"s3://", "must be a URI" },
        { "kserve: { resources: { memory: \"4Gi\\n\" } }", "\"4Gi", "Kubernetes quantity" },
        { "kserve: { replicas: 2 }", "replicas", "unknown key 'replicas'" },
        { "kserve: maybe", "maybe", "must be true or false" },
        { "triton: { preprocessing: { input: { shape: [28] } } }", "[28]", "must be [h, w] or [h, w, c]" },
        { "triton: { preprocessing: { input: { shape: [28, 0] } } }", "0", "'deploy.triton.preprocessing.input.shape' must be between 1" },
        { "triton: { preprocessing: { input: { shape: [28, 28], dtype: bool } } }", "bool", "expected one of: uint8, float32, float16, int32, int64" },
        { "triton: { preprocessing: { input: { shape: [28, 28], size: 3 } } }", "size", "unknown key 'size'" },
        { "triton: { preprocessing: { input: { shape: [28, 28] }, scale: 0 } }", "0", "'deploy.triton.preprocessing.scale' must be greater than 0" },
        { "triton: { preprocessing: { input: { shape: [28, 28] }, std: [1, -2] } }", "-2", "'deploy.triton.preprocessing.std' must be greater than 0" },
        { "triton: { preprocessing: { input: { shape: [28, 28] }, mean: [0.1, 0.2] } }", "[0.1", "has 2 values but the input has 1 channel(s)" },
        { "triton: { preprocessing: { input: { shape: [8, 8, 3] }, std: [] } }", "[]", "must list at least one value" },
        { "triton: { preprocessing: { input: { shape: [8, 8, 3] }, layout: chw } }", "chw", "expected one of: nchw, nhwc" },
        { "triton: { preprocessing: { input: { shape: [8, 8, 3] }, norm: 1 } }", "norm", "unknown key 'norm'" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Errors_point_at_the_offending_key_or_value(string deploy, string needle, string message)
    {
        var yaml = WithDeploy(deploy);
        var code = message.StartsWith("unknown key", StringComparison.Ordinal) || message.Contains("did you mean") ? "MB1003" : "MB1004";
        // The needle is searched after 'deploy:' so a value such as "2" is not found earlier in the file.
        var offset = yaml.IndexOf("deploy:", StringComparison.Ordinal);
        var (line, column) = At(yaml[offset..], needle);
        line += yaml[..offset].Count(c => c == '\n');
        using var ws = Workspace();
        var d = ws.ExpectSingle(yaml, code, line, column);
        Assert.Contains(message, d.Message);
    }

    [Fact]
    public void Preprocessing_binds_every_key_and_defaults_the_rest()
    {
        using var ws = Workspace();
        var t = ws.Parse(WithDeploy("""
            triton:
              max_batch_size: 8
              preprocessing:
                input: { name: pixels, dtype: uint8, shape: [32, 24, 3] }
                scale: 255
                mean: [0.485, 0.456, 0.406]
                std: [0.229, 0.224, 0.225]
                layout: nhwc
            """))!.Models[0].Deploy.Triton!;
        Assert.Empty(ws.Diagnostics);
        var p = t.Preprocessing!;
        Assert.Equal(("pixels", TensorElementType.UInt8, 255.0, ImageLayout.Nhwc), (p.InputName, p.InputType, p.Scale, p.Layout));
        Assert.Equal([32, 24, 3], p.InputShape);
        Assert.Equal(3, p.Channels);
        Assert.Equal([0.485, 0.456, 0.406], p.Mean);
        Assert.Equal([0.229, 0.224, 0.225], p.Std);

        using var ws2 = Workspace();
        var d = ws2.Parse(WithDeploy("triton: { preprocessing: { input: { shape: [28, 28] }, mean: 0.286, std: 0.353 } }"))!
            .Models[0].Deploy.Triton!.Preprocessing!;
        Assert.Empty(ws2.Diagnostics);
        // The one default of ImagePreprocessing (issue 18): bytes are divided by 255 wherever preprocessing runs.
        Assert.Equal((PreprocessingSpec.DefaultInputName, TensorElementType.UInt8, 255.0, ImageLayout.Nchw), (d.InputName, d.InputType, d.Scale, d.Layout));
        Assert.Equal([0.286], d.Mean);
        Assert.Equal([0.353], d.Std);
        Assert.Equal(1, d.Channels);
    }

    [Fact]
    public void A_model_named_like_a_preprocessing_entry_is_a_duplicate()
    {
        var yaml = WithDeploy("triton: { preprocessing: { input: { shape: [28, 28] } } }")
            + "  - name: m_ensemble\n    source: models/m.onnx\n";
        Expect(yaml, "m_ensemble", "model name 'm_ensemble' is taken: model 'm' declares triton.preprocessing", "MB1007");
    }

    [Fact]
    public void Preprocessing_needs_its_input()
    {
        var yaml = WithDeploy("triton: { preprocessing: { scale: 255 } }");
        Expect(yaml, "{ scale", "missing required key 'input'", "MB1005");
    }

    [Fact]
    public void Pytorch_platform_needs_the_torchscript_export_and_the_base_artifact()
    {
        var inputs = "    inputs: [ { name: x, shape: [batch, 4] } ]\n";
        var yaml = WithDeploy("triton: { platform: pytorch }", "models/t.pt", inputs);
        Expect(yaml, "pytorch", "needs 'export.torchscript: true'");

        var ok = WithDeploy("triton: { platform: pytorch }", "models/t.pt", inputs + "    export: { torchscript: true }\n");
        using var ws = Workspace();
        Assert.Equal(TritonBackendKind.PyTorch, ws.Parse(ok)!.Models[0].Deploy.Triton!.Platform);
        Assert.Empty(ws.Diagnostics);
    }
}
