using ImageLayout = ModelBuild.Runtime.ImageLayout;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;
using ModelBuild.Targets;
using static ModelBuild.Core.Tests.Targets.Samples;

namespace ModelBuild.Core.Tests.Targets;

/// <summary>deploy.triton.preprocessing: the generated preprocessing model, and the three configs as Triton reads them.</summary>
public sealed class TritonEnsembleTests
{
    private static ModelInterface Fashion() => new(
        [T("input", TensorElementType.Float32, Dyn("batch"), D(1), D(28), D(28))],
        [T("logits", TensorElementType.Float32, Dyn("batch"), D(10))]);

    private static PreprocessingSpec Gray(string name = "image") => new()
    {
        InputName = name,
        InputShape = [28, 28],
        Image = new() { Scale = 255, Mean = [0.2860], Std = [0.3530] },
        Location = Where,
    };

    private static TritonSpec With(PreprocessingSpec pre, int maxBatch = 8, TritonBackendKind platform = TritonBackendKind.OnnxRuntime) => new()
    {
        MaxBatchSize = maxBatch,
        DynamicBatching = maxBatch > 0 ? new DynamicBatchingSpec { MaxQueueDelayUs = 100 } : null,
        Platform = platform,
        Preprocessing = pre,
        Location = Where,
    };

    /// <summary>The three repository entries by model name.</summary>
    private static Dictionary<string, string> Repository(ModelInterface model, TritonSpec spec, TritonPlatform platform = TritonPlatform.OnnxRuntime)
    {
        var plan = TritonEnsemble.Create("fashion", model, spec, platform);
        return new()
        {
            ["fashion"] = TritonConfigWriter.Write("fashion", model, spec, platform),
            [plan.PreprocessName] = plan.PreprocessConfig,
            [plan.EnsembleName] = plan.EnsembleConfig,
        };
    }

    [Theory]
    [InlineData(8, TritonPlatform.OnnxRuntime)]
    [InlineData(0, TritonPlatform.OnnxRuntime)]
    [InlineData(8, TritonPlatform.PyTorchLibTorch)]
    [InlineData(8, TritonPlatform.TensorRtPlan)]
    public void All_three_configs_parse_and_the_ensemble_is_wired(int maxBatch, TritonPlatform platform)
    {
        var repo = Repository(Fashion(), With(Gray(), maxBatch), platform);

        Assert.Equal(["fashion", "fashion_ensemble", "fashion_preprocess"], repo.Keys.Order());
        Assert.Empty(EnsembleWiring.Problems(repo, "fashion_ensemble"));

        var ensemble = ConfigNode.FromConfig(repo["fashion_ensemble"]);
        Assert.Equal("ensemble", ensemble.Value("platform"));
        Assert.Equal(maxBatch.ToString(), ensemble.Value("max_batch_size") ?? "0"); // proto3 text omits zero
        var input = Assert.Single(ensemble.All("input"));
        Assert.Equal(("image", "TYPE_UINT8"), (input.Value("name"), input.Value("data_type")));
        Assert.Equal(maxBatch > 0 ? ["28", "28"] : ["-1", "28", "28"], input.Values("dims"));
        Assert.Equal("logits", Assert.Single(ensemble.All("output")).Value("name"));
        var steps = ensemble.One("ensemble_scheduling")!.All("step").ToList();
        Assert.Equal(["fashion_preprocess", "fashion"], steps.Select(s => s.Value("model_name")));
        Assert.All(steps, s => Assert.Equal("1", s.Value("model_version")));
        // libtorch knows the model's tensors as INPUT__0/OUTPUT__0; the ensemble still answers with 'logits'.
        var modelOutput = Assert.Single(steps[1].All("output_map"));
        Assert.Equal((platform == TritonPlatform.PyTorchLibTorch ? "OUTPUT__0" : "logits", "logits"), (modelOutput.Value("key"), modelOutput.Value("value")));
    }

    [Fact]
    public void The_ensemble_config_reads_as_documented()
    {
        var plan = TritonEnsemble.Create("fashion", Fashion(), With(Gray()), TritonPlatform.OnnxRuntime);

        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ModelBuild.sln"))) dir = dir.Parent;
        var guide = File.ReadAllText(Path.Combine(dir!.FullName, "docs", "deploy-triton.md")).ReplaceLineEndings("\n");
        var start = guide.IndexOf("```\nname: \"fashion_ensemble\"", StringComparison.Ordinal) + 4;
        Assert.True(start > 4, "the guide has no fashion_ensemble example");

        Assert.Equal(guide[start..guide.IndexOf("```", start, StringComparison.Ordinal)], plan.EnsembleConfig);
        // The preprocessing entry batches like the model but leaves dynamic batching to it.
        Assert.DoesNotContain("dynamic_batching", plan.PreprocessConfig);
        Assert.Contains("max_batch_size: 8", plan.PreprocessConfig);
    }

    public static TheoryData<string, string, string> BrokenEnsembles => new()
    {
        { "a step naming a missing tensor", "input_map { key: \"input\" value: \"input\" }", "input_map { key: \"input\" value: \"pixels\" }" },
        { "a step naming a missing model", "model_name: \"fashion_preprocess\"", "model_name: \"fashion_prep\"" },
        { "a model input left unmapped", "input_map { key: \"input\" value: \"input\" }\n", "" },
        { "an output the model does not have", "output_map { key: \"logits\" value: \"logits\" }", "output_map { key: \"scores\" value: \"logits\" }" },
        { "an ensemble input of the wrong type", "data_type: TYPE_UINT8", "data_type: TYPE_FP32" },
        { "an ensemble output of the wrong shape", "dims: [ 10 ]", "dims: [ 1000 ]" },
    };

    [Theory]
    [MemberData(nameof(BrokenEnsembles))]
    public void A_miswired_ensemble_is_caught(string why, string find, string replace)
    {
        var repo = Repository(Fashion(), With(Gray()));
        Assert.Contains(find, repo["fashion_ensemble"]);
        repo["fashion_ensemble"] = repo["fashion_ensemble"].Replace(find, replace);

        Assert.True(EnsembleWiring.Problems(repo, "fashion_ensemble").Count > 0, $"the wiring check accepted {why}");
    }

    [Theory]
    [InlineData("misspelt step field", "input_map {", "input_maps {")]
    [InlineData("version as a string", "model_version: 1", "model_version: \"1\"")]
    [InlineData("ensemble and dynamic batching together", "ensemble_scheduling {", "dynamic_batching { }\nensemble_scheduling {")]
    [InlineData("map entry without braces", "input_map { key: \"image\" value: \"image\" }", "input_map: \"image\"")]
    public void Protoc_rejects_a_malformed_ensemble(string why, string find, string replace)
    {
        var config = TritonEnsemble.Create("fashion", Fashion(), With(Gray()), TritonPlatform.OnnxRuntime).EnsembleConfig;
        Assert.Contains(find, config);

        var result = Protoc.Encode(config.Replace(find, replace));

        Assert.True(result.ExitCode != 0, $"protoc accepted an ensemble with {why}");
    }

    [Fact]
    public void The_tensor_between_the_steps_is_renamed_when_the_raw_input_has_the_models_input_name()
    {
        var repo = Repository(Fashion(), With(Gray(name: "input")));

        Assert.Empty(EnsembleWiring.Problems(repo, "fashion_ensemble"));
        Assert.Contains("output_map { key: \"input_preprocessed\" value: \"input_preprocessed\" }", repo["fashion_ensemble"]);
    }

    [Theory]
    [InlineData("two inputs", "the model has 2: 'input', 'mask'")]
    [InlineData("height", "has h = 28 as nchw, but preprocessing.input.shape [32, 28] gives h = 32")]
    [InlineData("channels", "has c = 1 as nchw, but preprocessing.input.shape [28, 28, 3] gives c = 3")]
    [InlineData("layout", "has h = 1 as nhwc")]
    [InlineData("rank", "a 4-axis image batch")]
    [InlineData("output name", "'logits' is also a model output")]
    public void Preprocessing_that_cannot_feed_the_model_is_refused_at_its_yaml_location(string what, string message)
    {
        var model = Fashion();
        var pre = Gray();
        switch (what)
        {
            case "two inputs": model = model with { Inputs = [.. model.Inputs, T("mask", TensorElementType.Float32, Dyn("batch"), D(1))] }; break;
            case "height": pre = Copy(pre, shape: [32, 28]); break;
            case "channels": pre = Copy(pre, shape: [28, 28, 3]); break;
            case "layout": pre = Copy(pre, layout: ImageLayout.Nhwc); break;
            case "rank": model = model with { Inputs = [T("input", TensorElementType.Float32, Dyn("batch"), D(784))] }; break;
            case "output name": pre = Copy(pre, name: "logits"); break;
        }

        var e = Assert.Throws<ModelBuildException>(() => TritonEnsemble.Create("fashion", model, With(pre), TritonPlatform.OnnxRuntime));

        Assert.Equal(DiagnosticCodes.InvalidValue, e.Diagnostic.Code);
        Assert.Equal(Where, e.Diagnostic.Location);
        Assert.Contains(message, e.Message);
    }

    private static PreprocessingSpec Copy(PreprocessingSpec p, int[]? shape = null, ImageLayout? layout = null, string? name = null) => new()
    {
        InputName = name ?? p.InputName,
        InputType = p.InputType,
        InputShape = shape ?? p.InputShape,
        Image = p.Image with { Layout = layout ?? p.Layout },
        Location = p.Location,
    };

    [Theory]
    [InlineData(ImageLayout.Nchw)]
    [InlineData(ImageLayout.Nhwc)]
    public void The_preprocessing_model_normalizes_per_channel_into_the_models_layout(ImageLayout layout)
    {
        // A 2x3 RGB image per sample, 2 samples; the model wants [batch, 3, 2, 3] (NCHW) or [batch, 2, 3, 3] (NHWC).
        var target = layout == ImageLayout.Nchw
            ? T("x", TensorElementType.Float32, Dyn("n"), D(3), D(2), D(3))
            : T("x", TensorElementType.Float32, Dyn("n"), D(2), D(3), D(3));
        var pre = new PreprocessingSpec
        {
            InputName = "rgb", InputShape = [2, 3, 3], Image = new() { Scale = 255, Mean = [0.5, 0.25, 0], Std = [0.5, 0.25, 2], Layout = layout }, Location = Where,
        };
        var raw = Enumerable.Range(0, 2 * 2 * 3 * 3).Select(i => (byte)(i * 13 % 256)).ToArray();

        var model = PreprocessingModel.Build("p", pre, target, "x");
        Assert.Equal(PreprocessingModel.Interface(pre, target, "x"), ModelInterfaceReader.Read(model, Where), new InterfaceComparer());
        var path = Path.Combine(Path.GetTempPath(), $"modelbuild-pre-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
            using var runner = new ModelRunner(path, Where);
            var output = runner.Run(new Dictionary<string, NdArray> { ["rgb"] = new(TensorElementType.UInt8, [2, 2, 3, 3], raw) })["x"];

            Assert.Equal(layout == ImageLayout.Nchw ? [2L, 3, 2, 3] : [2L, 2, 3, 3], output.Shape);
            var values = output.As<float>();
            for (var n = 0; n < 2; n++)
            for (var h = 0; h < 2; h++)
            for (var w = 0; w < 3; w++)
            for (var c = 0; c < 3; c++)
            {
                var expected = (raw[((n * 2 + h) * 3 + w) * 3 + c] / 255.0 - pre.Mean[c]) / pre.Std[c];
                var at = layout == ImageLayout.Nchw ? ((n * 3 + c) * 2 + h) * 3 + w : ((n * 2 + h) * 3 + w) * 3 + c;
                Assert.Equal(expected, values[at], 5);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class InterfaceComparer : IEqualityComparer<ModelInterface>
    {
        public bool Equals(ModelInterface? a, ModelInterface? b) => Show(a!) == Show(b!);
        public int GetHashCode(ModelInterface m) => Show(m).GetHashCode();
        private static string Show(ModelInterface m) => string.Join(";", m.Inputs) + "->" + string.Join(";", m.Outputs);
    }
}
