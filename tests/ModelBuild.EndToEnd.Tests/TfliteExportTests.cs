using System.Text.Json;
using Xunit.Abstractions;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// deploy.mobile: tflite on models nobody here wrote, judged by someone else's TFLite runtime: Arm NN's TfLite
/// parser and reference kernels (Debian's python3-pyarmnn, run by testassets/tflite/armnn_run.py through
/// MODELBUILD_TFLITE_RUNTIME), never by our own reader. The build holds the file to the checks its ONNX parent met.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class TfliteExportTests(PackageFeedFixture feed, ITestOutputHelper output)
{
    /// <summary>Conversion tolerance, as for the ONNX export: max |diff| ≤ 1e-4 × max(1, max |output|).</summary>
    private const double Tolerance = 1e-4;

    private static readonly string Judge = Path.Combine(RepoPaths.Root, "testassets", "tflite", "armnn_run.py");
    private static Dictionary<string, string> JudgeEnvironment => new() { ["MODELBUILD_TFLITE_RUNTIME"] = Judge };
    private static string SampleApp => Path.Combine(RepoPaths.Root, "testassets", "SampleApp");

    /// <summary>CNN families the writer must cover: residual, depthwise inverted residual (ReLU6), squeeze-excite with
    /// hard-swish/hard-sigmoid, channel shuffle, fire modules, SiLU, grouped convolutions, dense blocks with average
    /// pooling, count_include_pad pooling, a U-Net with grouped transposed convolutions, LayerNorm in a ConvNeXt.</summary>
    public static IEnumerable<object[]> Cnns() =>
        new[]
        {
            "resnet18", "mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "efficientnet_b0",
            "regnet_y_400mf", "densenet121", "googlenet", "unet_transposed", "mnasnet0_5",
        }.Select(n => new object[] { n });

    /// <summary>What Arm NN cannot read (GELU, BATCH_MATMUL, SELECT_V2, MIRROR_PAD, tensors over 4-D): transformers,
    /// HF-style text models, segmentation heads, sub-pixel upsampling, a style-transfer net with instance norm.</summary>
    public static IEnumerable<object[]> LiteRtModels() =>
        new[]
        {
            "bert_style_encoder", "gpt2_style_decoder", "llama_style_decoder", "t5_relative_bias", "vit_small", "swin_t", "convnext_tiny",
            "mlp_mixer", "sdpa_block", "style_transfer", "espcn_x3", "space_to_depth_net", "yolo_style_head", "lraspp_mobilenet_v3_large",
        }.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Cnns))]
    public void Zoo_cnn_matches_pytorch_in_arm_nn(string name) => ZooMatchesPytorch(name, JudgeEnvironment, "Arm NN");

    [Theory]
    [MemberData(nameof(LiteRtModels))]
    public void Zoo_model_matches_pytorch_in_litert(string name) =>
        ZooMatchesPytorch(name, new Dictionary<string, string> { ["MODELBUILD_TFLITE_RUNTIME"] = LiteRtCommand() }, "LiteRT");

    private void ZooMatchesPytorch(string name, Dictionary<string, string> judge, string runtime)
    {
        var entry = Zoo.Entry(name);
        var dir = Directory.CreateTempSubdirectory($"modelbuild-tflite-{name}-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "deploy.yaml"), ZooManifest(entry));
            var result = ProcessRunner.Run("dotnet", dir, TimeSpan.FromMinutes(15), judge, RepoPaths.ToolAssembly,
                "build", "deploy.yaml", "--out", "out");
            Assert.True(result.ExitCode == 0, $"{name}: modelbuild build failed\n{result}");
            Assert.DoesNotContain("MB2061", result.Output);

            using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "out", "modelbuild-report.json")));
            var model = report.RootElement.GetProperty("models")[0];
            Assert.Equal("pytorch", model.GetProperty("parity_reference").GetString());
            var tflite = model.GetProperty("tflite");
            Assert.StartsWith(runtime, tflite.GetProperty("checked_by").GetString());
            // TFLite's layout: an image input is NHWC with batch 1.
            var input = entry.GetProperty("inputs")[0].GetProperty("shape").EnumerateArray().Select(d => d.ToString()).ToArray();
            if (input.Length == 4)
                Assert.Equal(["1", input[2], input[3], input[1]],
                    tflite.GetProperty("inputs")[0].GetProperty("shape").EnumerateArray().Select(d => d.GetString()!).ToArray());
            var file = Path.Combine(dir, "out", tflite.GetProperty("path").GetString()!);
            Assert.Equal("TFL3", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(file), 4, 4));

            var worst = 0.0;
            foreach (var p in tflite.GetProperty("judged").GetProperty("parity").EnumerateObject())
            {
                var magnitude = p.Value.GetProperty("magnitude").GetDouble();
                // A reference that is all zeros would make any comparison pass.
                Assert.True(magnitude > 0, $"{name} {p.Name}: the reference output is all zeros");
                var scaled = p.Value.GetProperty("max_abs").GetDouble() / Math.Max(1, magnitude);
                Assert.True(scaled <= Tolerance, $"{name} {p.Name}: max |diff| / max(1, |output|) = {scaled:E2} > {Tolerance:E0}");
                worst = Math.Max(worst, scaled);
            }
            Assert.All(tflite.GetProperty("judged").GetProperty("checks").EnumerateArray(), c => Assert.True(c.GetProperty("passed").GetBoolean(),
                c.GetProperty("message").GetString()));
            output.WriteLine($"| {name} | {tflite.GetProperty("size_bytes").GetInt64():N0} | {worst:E1} |");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// The sample's Fashion CNN through <c>dotnet build</c>: the int8 deployment as a full-integer TFLite file keeps top-1
    /// within 0.5 point of the float TFLite file, at most 0.3× its size, with an int8 input (io: int8) as well.
    /// </summary>
    [Fact]
    public void Sample_int8_deploys_as_full_integer_tflite_that_keeps_accuracy()
    {
        using var project = new ConsumerProject(feed, FashionManifest("int8", "[ort, tflite]"), name: "Android",
            packages: new Dictionary<string, string> { ["ModelBuild.Torch"] = feed.Version });
        File.Copy(Path.Combine(SampleApp, "models", "fashion.pt"), Path.Combine(project.Directory, "models", "fashion.pt"));
        foreach (var data in new[] { "calib.npy", "test.npz" })
            File.Copy(Path.Combine(SampleApp, "data", data), Path.Combine(project.Directory, "data", data));

        var build = project.Dotnet(JudgeEnvironment, "build");
        Assert.True(build.ExitCode == 0, build.ToString());
        var int8 = Tflite(project.OutputDirectory);
        // dotnet build copies the file into the app's output with the other artifacts.
        Assert.True(File.Exists(Path.Combine(project.OutputDirectory, "models", "fashion", "int8", "model.tflite")));
        Assert.True(File.Exists(Path.Combine(project.OutputDirectory, "models", "fashion", "int8", "model.ort")));
        Assert.Equal("int8", int8.From);
        Assert.True(int8.Int8Ops >= 4, $"only {int8.Int8Ops} ops run in int8");

        // The float file of the same model, and the int8 one with int8 inputs and outputs (same pipeline, from the CLI).
        var fp32 = BuildWithCli(project.Directory, FashionManifest("base", "tflite"), "out-fp32");
        var int8Io = BuildWithCli(project.Directory, FashionManifest("int8", "tflite", "\n      tflite: { io: int8 }"), "out-int8io");

        output.WriteLine($"float TFLite: {fp32.Size:N0} bytes, top-1 {fp32.Score:F4}; int8 TFLite: {int8.Size:N0} bytes " +
                         $"({(double)int8.Size / fp32.Size:F3}×), top-1 {int8.Score:F4}; int8 I/O: top-1 {int8Io.Score:F4}");
        Assert.InRange(fp32.Score, 0.85, 1.0);
        Assert.True(fp32.ParityScaled <= Tolerance, $"float TFLite differs from PyTorch by {fp32.ParityScaled:E2}");
        Assert.True(fp32.Score - int8.Score <= 0.005, $"int8 TFLite top-1 {int8.Score} vs float TFLite {fp32.Score}");
        Assert.True(fp32.Score - int8Io.Score <= 0.005, $"int8-I/O TFLite top-1 {int8Io.Score} vs float TFLite {fp32.Score}");
        Assert.True(int8.Size <= 0.3 * fp32.Size, $"int8 TFLite is {int8.Size} bytes, float {fp32.Size}");
        Assert.Equal("int8", int8Io.InputType);
    }

    /// <summary>
    /// An fp16 variant's file (float16 weights widened by DEQUANTIZE: half the size) judged by the second runtime,
    /// Google's LiteRT.js (testassets/tflite/litert_run.mjs); Arm NN cannot read float16 weights and says so (MB2061).
    /// </summary>
    [Fact]
    public void Fp16_variant_deploys_as_half_size_tflite_checked_by_litert()
    {
        var dir = Directory.CreateTempSubdirectory("modelbuild-tflite-fp16-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "models"));
            Directory.CreateDirectory(Path.Combine(dir, "data"));
            File.Copy(Path.Combine(SampleApp, "models", "fashion.pt"), Path.Combine(dir, "models", "fashion.pt"));
            foreach (var data in new[] { "calib.npy", "test.npz" })
                File.Copy(Path.Combine(SampleApp, "data", data), Path.Combine(dir, "data", data));
            var manifest = FashionManifest("half", "tflite").Replace("  - name: int8\n", "  - name: half\n        fp16: true\n      - name: int8\n");
            var litert = new Dictionary<string, string> { ["MODELBUILD_TFLITE_RUNTIME"] = LiteRtCommand() };
            var half = BuildWithCli(dir, manifest, "out-half", litert, "LiteRT");
            var fp32 = BuildWithCli(dir, FashionManifest("base", "tflite"), "out-fp32", litert, "LiteRT");
            output.WriteLine($"fp16 TFLite: {half.Size:N0} bytes ({(double)half.Size / fp32.Size:F3}× the float file), top-1 {half.Score:F4} " +
                             $"(float {fp32.Score:F4})");
            Assert.True(half.Size <= 0.55 * fp32.Size, $"fp16 TFLite is {half.Size} bytes, float {fp32.Size}");
            Assert.True(fp32.Score - half.Score <= 0.002, $"fp16 TFLite top-1 {half.Score} vs float {fp32.Score}");

            var armnn = ProcessRunner.Run("dotnet", dir, TimeSpan.FromMinutes(10), JudgeEnvironment, RepoPaths.ToolAssembly,
                "build", Path.Combine(dir, "out-half.yaml"), "--out", "out-half-armnn");
            Assert.Equal(0, armnn.ExitCode);
            Assert.Contains("warning MB2061", armnn.Output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The LiteRT.js judge, its npm package installed beside it on first use (npm is what .ci/run installs).</summary>
    private static string LiteRtCommand()
    {
        var folder = Path.Combine(RepoPaths.Root, "testassets", "tflite");
        if (!Directory.Exists(Path.Combine(folder, "node_modules", "@litertjs", "core")))
        {
            var install = ProcessRunner.Run("npm", folder, TimeSpan.FromMinutes(5), null, "install", "--no-audit", "--no-fund");
            Assert.True(install.ExitCode == 0, install.ToString());
        }
        return "node " + Path.Combine(folder, "litert_run.mjs");
    }

    [Fact]
    public void An_operator_tflite_lacks_fails_at_the_mobile_key_naming_the_node()
    {
        // The zoo's U-Net upsamples bicubically; TFLite has bilinear and nearest only.
        var entry = Zoo.Entry("unet_bilinear");
        var dir = Directory.CreateTempSubdirectory("modelbuild-tflite-unsupported-").FullName;
        try
        {
            var manifest = ZooManifest(entry);
            File.WriteAllText(Path.Combine(dir, "deploy.yaml"), manifest);
            var result = ProcessRunner.Run("dotnet", dir, TimeSpan.FromMinutes(10), null, RepoPaths.ToolAssembly, "build", "deploy.yaml", "--out", "out");
            Assert.Equal(2, result.ExitCode);
            var line = manifest.Split('\n').ToList().FindIndex(l => l.Contains("mobile:", StringComparison.Ordinal)) + 1;
            Assert.Matches($@"deploy\.yaml\({line},\d+\): error MB2060: TFLite export: node '[^']+' \(Resize\): resize mode 'cubic'", result.Output);
            Assert.False(Directory.Exists(Path.Combine(dir, "out", "models")), "a failed build left artifacts behind");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed record TfliteFigures(long Size, double Score, double ParityScaled, string From, int Int8Ops, string InputType);

    private static TfliteFigures Tflite(string outputDirectory, string runtime = "Arm NN")
    {
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outputDirectory, "modelbuild-report.json")));
        var tflite = report.RootElement.GetProperty("models")[0].GetProperty("tflite");
        Assert.StartsWith(runtime, tflite.GetProperty("checked_by").GetString());
        var judged = tflite.GetProperty("judged");
        var parity = judged.GetProperty("parity").EnumerateObject()
            .Max(p => p.Value.GetProperty("max_abs").GetDouble() / Math.Max(1, p.Value.GetProperty("magnitude").GetDouble()));
        return new TfliteFigures(tflite.GetProperty("size_bytes").GetInt64(), judged.GetProperty("score").GetDouble(), parity,
            tflite.GetProperty("from").GetString()!, tflite.GetProperty("int8_ops").GetInt32(),
            tflite.GetProperty("inputs")[0].GetProperty("dtype").GetString()!);
    }

    private static TfliteFigures BuildWithCli(string directory, string manifest, string outputFolder,
        Dictionary<string, string>? environment = null, string runtime = "Arm NN")
    {
        var path = Path.Combine(directory, outputFolder + ".yaml");
        File.WriteAllText(path, manifest);
        var result = ProcessRunner.Run("dotnet", directory, TimeSpan.FromMinutes(10), environment ?? JudgeEnvironment, RepoPaths.ToolAssembly,
            "build", path, "--out", outputFolder);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain("MB2061", result.Output);
        return Tflite(Path.Combine(directory, outputFolder), runtime);
    }

    private static string FashionManifest(string deployed, string mobile, string tflite = "") => $"""
        schema: 1
        models:
          - name: fashion
            source: models/fashion.pt
            inputs:
              - {"{"} name: input, shape: [batch, 1, 28, 28], dtype: float32 {"}"}
            outputs:
              - name: logits
            variants:
              - name: int8
                quantize:
                  mode: static
                  latency_aware: false
                  calibration: {"{"} data: data/calib.npy {"}"}
            evaluate:
              data: data/test.npz
              metric: top1
            checks:
              accuracy: {"{"} max_drop: 0.01 {"}"}
            deploy:
              variant: {deployed}
              mobile: {mobile}{tflite}

        """;

    /// <summary>A newcomer's manifest (the source and its inputs, no data) that asks for a TFLite file.</summary>
    private static string ZooManifest(JsonElement entry) =>
        ArchitectureZooTests.Manifest(entry) + "    deploy:\n      mobile: tflite\n";
}
