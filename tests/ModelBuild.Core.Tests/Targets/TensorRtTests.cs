using System.Text.Json;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Targets;
using static ModelBuild.Core.Tests.Targets.Samples;

namespace ModelBuild.Core.Tests.Targets;

/// <summary>The trtexec command derived from the model, and the two-stage Dockerfile that runs it.</summary>
public sealed class TensorRtTests : IDisposable
{
    private readonly string _deploy = Directory.CreateTempSubdirectory("modelbuild-trt-").FullName;

    public void Dispose() => Directory.Delete(_deploy, recursive: true);

    private static TritonSpec Trt(int maxBatch, PrecisionKind? precision = null, int? workspaceMb = null, int[]? preferred = null, int version = 1) => new()
    {
        MaxBatchSize = maxBatch,
        Platform = TritonBackendKind.TensorRt,
        DynamicBatching = preferred is null ? null : new DynamicBatchingSpec { PreferredBatchSizes = preferred },
        Optimization = precision is null && workspaceMb is null ? null : new TritonOptimizationSpec
        {
            Precision = precision ?? PrecisionKind.Fp32, MaxWorkspaceMb = workspaceMb, Location = Where,
        },
        Version = version,
        Location = Where,
    };

    private static ModelInterface Fashion() => new(
        [T("input", TensorElementType.Float32, Dyn("batch"), D(1), D(28), D(28))],
        [T("logits", TensorElementType.Float32, Dyn("batch"), D(10))]);

    [Fact]
    public void Batched_model_gets_a_profile_from_one_to_max_batch_size()
    {
        var engine = TensorRtEngine.For("fashion", Fashion(), Trt(8, PrecisionKind.Fp16, 2048));

        Assert.Equal(
            [
                "--onnx=/engines/fashion/model.onnx", "--saveEngine=/engines/fashion/model.plan", "--fp16",
                "--memPoolSize=workspace:2048",
                "--minShapes=input:1x1x28x28", "--optShapes=input:8x1x28x28", "--maxShapes=input:8x1x28x28",
            ],
            engine.Arguments);
        Assert.Equal("/engines/fashion/model.plan", engine.PlanPath);
    }

    [Fact]
    public void Opt_shape_follows_the_largest_preferred_batch_and_inputs_are_comma_separated()
    {
        var model = new ModelInterface(
            [T("a", TensorElementType.Float32, Dyn("b"), D(3)), T("b", TensorElementType.Int64, Dyn("b"), D(2), D(5))],
            [T("y", TensorElementType.Float32, Dyn("b"))]);

        var args = TensorRtEngine.For("m", model, Trt(16, PrecisionKind.Int8, preferred: [2, 4])).Arguments;

        Assert.Contains("--int8", args);
        Assert.DoesNotContain("--fp16", args);
        Assert.Contains("--minShapes=a:1x3,b:1x2x5", args);
        Assert.Contains("--optShapes=a:4x3,b:4x2x5", args);
        Assert.Contains("--maxShapes=a:16x3,b:16x2x5", args);
    }

    [Fact]
    public void Static_model_needs_no_shape_flags_and_fp32_no_precision_flag()
    {
        var args = TensorRtEngine.For("fashion", FixedBatchCnn(), Trt(0)).Arguments;

        Assert.Equal(["--onnx=/engines/fashion/model.onnx", "--saveEngine=/engines/fashion/model.plan"], args);
    }

    public static TheoryData<ModelInterface, int, string> Unbuildable => new()
    {
        { new ModelInterface([T("tokens", TensorElementType.Int64, Dyn("b"), Dyn("seq"))], []), 8, "every axis but the batch axis" },
        { new ModelInterface([T("x", TensorElementType.Float32, Dyn("b"), D(4))], []), 0, "every axis but the batch axis" },
        { new ModelInterface([T("x", TensorElementType.Float32, D(1), D(4))], []), 8, "needs a dynamic first axis" },
        { new ModelInterface([T("in:0", TensorElementType.Float32, Dyn("b"), D(4))], []), 8, "cannot be passed to trtexec" },
        { new ModelInterface([T("a,b", TensorElementType.Float32, Dyn("b"), D(4))], []), 8, "cannot be passed to trtexec" },
    };

    [Theory]
    [MemberData(nameof(Unbuildable))]
    public void Shapes_trtexec_cannot_take_are_errors_at_the_manifest_location(ModelInterface model, int maxBatch, string message)
    {
        var ex = Assert.Throws<ModelBuildException>(() => TensorRtEngine.For("m", model, Trt(maxBatch)));
        Assert.Equal(DiagnosticCodes.InvalidValue, ex.Diagnostic.Code);
        Assert.Equal(Where, ex.Diagnostic.Location);
        Assert.Contains(message, ex.Message);
    }

    /// <summary>Lays the deploy folder out as the pipeline does for a TensorRT model.</summary>
    private string WriteLayout(string dockerfile)
    {
        File.WriteAllText(Path.Combine(_deploy, TritonLayout.DockerfileName), dockerfile);
        File.WriteAllText(Path.Combine(_deploy, TritonLayout.DockerIgnoreName), DockerIgnoreWriter.WriteTriton(withEngines: true));
        var config = Path.Combine(_deploy, TritonLayout.ConfigPath("fashion"));
        Directory.CreateDirectory(Path.GetDirectoryName(config)!);
        File.WriteAllText(config, TritonConfigWriter.Write("fashion", Fashion(), Trt(8), TritonPlatform.TensorRtPlan));
        var onnx = Path.Combine(_deploy, TritonLayout.EngineSourcePath("fashion"));
        Directory.CreateDirectory(Path.GetDirectoryName(onnx)!);
        File.WriteAllBytes(onnx, [0x08, 0x08]);
        return dockerfile;
    }

    private static string TwoStage(int version = 1) =>
        DockerfileWriter.WriteTriton(engines: [TensorRtEngine.For("fashion", Fashion(), Trt(8, PrecisionKind.Fp16, version: version))]);

    [Fact]
    public void Two_stage_dockerfile_passes_the_lint()
    {
        var dockerfile = WriteLayout(TwoStage());
        Assert.Empty(DockerfileLint.Check(dockerfile, _deploy, DockerfileWriter.TritonPorts));
    }

    [Fact]
    public void Engine_stage_runs_trtexec_from_the_pinned_tensorrt_image_of_the_same_release()
    {
        var ins = DockerfileLint.Parse(TwoStage(version: 2));

        var froms = ins.Where(i => i.Keyword == "FROM").Select(i => i.Arguments).ToList();
        Assert.Equal(["nvcr.io/nvidia/tensorrt:24.08-py3 AS engine", "nvcr.io/nvidia/tritonserver:24.08-py3"], froms);
        var run = Assert.Single(ins, i => i.Keyword == "RUN");
        var command = JsonSerializer.Deserialize<string[]>(run.Arguments)!;
        Assert.Equal("/usr/src/tensorrt/bin/trtexec", command[0]);
        Assert.Contains("--onnx=/engines/fashion/model.onnx", command);
        Assert.Contains("--fp16", command);
        Assert.Contains("--maxShapes=input:8x1x28x28", command);
        Assert.Contains(ins, i => i.Keyword == "COPY" && i.Arguments == "tensorrt /engines");
        Assert.Contains(ins, i => i.Keyword == "COPY" && i.Arguments == "--from=engine /engines/fashion/model.plan /models/fashion/2/model.plan");
    }

    [Fact]
    public void Dockerignore_lets_the_engine_sources_through_only_when_engines_are_built()
    {
        static List<string> Patterns(string text) => text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.False(DockerfileLint.IsIgnored(Patterns(DockerIgnoreWriter.WriteTriton(withEngines: true)), "tensorrt/fashion/model.onnx"));
        Assert.True(DockerfileLint.IsIgnored(Patterns(DockerIgnoreWriter.WriteTriton()), "tensorrt/fashion/model.onnx"));
    }

    public static TheoryData<string, string, string> Broken => new()
    {
        { " AS engine", " AS builder", "names no earlier stage" },
        { "--from=engine /engines/fashion/model.plan", "--from=engine /engines/fashion/other.plan", "other.plan is not written by any RUN in stage engine" },
        { "FROM nvcr.io/nvidia/tensorrt:24.08-py3", "FROM nvcr.io/nvidia/tensorrt:latest", "uses 'latest'" },
        { "COPY tensorrt /engines", "COPY engines /engines", "engines does not exist" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void Lint_catches_broken_engine_stages(string original, string replacement, string expected)
    {
        var good = TwoStage();
        Assert.Contains(original, good);
        var broken = WriteLayout(good.Replace(original, replacement));

        Assert.Contains(DockerfileLint.Check(broken, _deploy, DockerfileWriter.TritonPorts), p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Lint_wants_the_engine_build_in_exec_form()
    {
        var good = TwoStage();
        var run = DockerfileLint.Parse(good).Single(i => i.Keyword == "RUN");
        var shell = string.Join(' ', JsonSerializer.Deserialize<string[]>(run.Arguments)!);
        var broken = WriteLayout(good.Replace("RUN " + run.Arguments, "RUN " + shell));

        Assert.Contains(DockerfileLint.Check(broken, _deploy, DockerfileWriter.TritonPorts), p => p.Contains("exec (JSON array) form", StringComparison.Ordinal));
    }

    [Fact]
    public void Ignored_engine_sources_are_caught()
    {
        var dockerfile = WriteLayout(TwoStage());
        File.WriteAllText(Path.Combine(_deploy, TritonLayout.DockerIgnoreName), DockerIgnoreWriter.WriteTriton());

        Assert.Contains(DockerfileLint.Check(dockerfile, _deploy, DockerfileWriter.TritonPorts), p => p.Contains("tensorrt is excluded by .dockerignore", StringComparison.Ordinal));
    }
}
