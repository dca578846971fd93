using ModelBuild.Manifest;

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
        { "kserve: { replicas: 2 }", "replicas", "unknown key 'replicas'" },
        { "kserve: maybe", "maybe", "must be true or false" },
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
