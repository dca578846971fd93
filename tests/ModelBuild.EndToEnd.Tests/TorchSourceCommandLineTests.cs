using System.Text.Json;
using System.Text.RegularExpressions;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;
using ModelBuild.TorchScript;
using ModelBuild.TorchScript.Conversion;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// `modelbuild build` on PyTorch and TorchSharp sources, as a user runs it: libtorch really runs as the parity
/// reference (figures small but not all zero), export.torchscript writes a model.pt, violations fail at the line.
/// </summary>
public sealed class TorchSourceCommandLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("modelbuild-torch-cli-").FullName;

    private ProcessResult Modelbuild(params string[] args) => ProcessRunner.Dotnet(_dir, [RepoPaths.ToolAssembly, .. args]);

    private void Manifest(string yaml) => File.WriteAllText(Path.Combine(_dir, "deploy.yaml"), yaml);

    private void CopyAsset(string relative, string to) =>
        File.Copy(Path.Combine(RepoPaths.Root, "tests", "ModelBuild.Core.Tests", "assets", relative), Path.Combine(_dir, to));

    private JsonElement Report(string model) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "out", "modelbuild-report.json"))).RootElement
            .GetProperty("models").EnumerateArray().Single(m => m.GetProperty("name").GetString() == model);

    /// <summary>Every output's parity figures of the base export: within the bound, and not all exactly zero (a real comparison ran).</summary>
    private static void AssertRealParity(JsonElement model, double bound)
    {
        var parity = model.GetProperty("artifacts")[0].GetProperty("parity").EnumerateObject().Select(p => p.Value).ToList();
        Assert.NotEmpty(parity);
        foreach (var p in parity) Assert.True(p.GetProperty("max_abs").GetDouble() <= bound, p.ToString());
        Assert.Contains(parity, p => p.GetProperty("max_abs").GetDouble() > 0 || p.GetProperty("mean_abs").GetDouble() > 0);
    }

    private const string Resnet = """
        schema: 1
        models:
          - name: resnet
            source: resnet_tiny.pt
            inputs:
              - name: image
                shape: [batch, 3, 32, 32]
            outputs:
              - name: logits
            export:
              torchscript: true
            checks:
              parity: { max_abs: 1.0e-4 }
            deploy:
              triton: { max_batch_size: 4 }
        """;

    /// <summary>
    /// A PyTorch LSTM (embedding → 2-layer batch-first LSTM → GRU → Linear, converted in C#) quantized dynamically from
    /// deploy.yaml: both LSTMs become ONNX Runtime's DynamicQuantizeLSTM and the output stays with the float model.
    /// </summary>
    [Fact]
    public void A_pytorch_lstm_quantizes_dynamically_through_the_manifest()
    {
        CopyAsset("converter/lstm.pt", "lstm.pt");
        var tokens = NpzReader.ReadAll(Path.Combine(RepoPaths.Root, "tests", "ModelBuild.Core.Tests", "assets", "converter", "lstm.npz"))["tokens"];
        NpzWriter.Write(Path.Combine(_dir, "tokens.npz"), new Dictionary<string, NdArray> { ["tokens"] = tokens });
        Manifest("""
            schema: 1
            models:
              - name: lstm
                source: lstm.pt
                inputs:
                  - { name: tokens, shape: [batch, 7], dtype: int64 }
                variants:
                  - name: int8
                    quantize: { mode: dynamic, latency_aware: false, per_channel: true }
                evaluate: { data: tokens.npz, metric: cosine }
                checks:
                  accuracy: { min: 0.99 }
                deploy: { variant: int8 }
            """);

        var result = Modelbuild("build", "deploy.yaml", "--out", "out");

        Assert.True(result.ExitCode == 0, result.ToString());
        var int8Path = Path.Combine(_dir, "out", "models", "lstm", "int8", "model.onnx");
        var ops = OnnxModelFile.Load(int8Path, new SourceLocation(int8Path)).Graph.Node.Select(n => n.OpType).ToList();
        Assert.Equal(2, ops.Count(o => o == "DynamicQuantizeLSTM"));
        Assert.DoesNotContain("LSTM", ops);
        using var basis = new ModelRunner(Path.Combine(_dir, "out", "models", "lstm", "model.onnx"), new SourceLocation("base"));
        using var quantized = new ModelRunner(int8Path, new SourceLocation("int8"));
        var input = new Dictionary<string, NdArray> { ["tokens"] = tokens };
        var cosine = Evaluation.Metrics.CosineSimilarity(basis.Run(input).Values.First(), quantized.Run(input).Values.First());
        Assert.True(cosine >= 0.99, $"cosine {cosine}");
        // The LSTM weights shrink 4×; the GRU, the embedding and the biases stay float: 0.72 measured. (It read 0.6 and
        // less while the base model carried the LSTM weights twice, its converter's folded copy beside the original.)
        var sizeRatio = Report("lstm").GetProperty("artifacts")[1].GetProperty("vs_base").GetProperty("size_ratio").GetDouble();
        Assert.True(sizeRatio < 0.8, $"int8 size {sizeRatio:0.00}× base");
    }

    [Fact]
    public void TorchScript_source_is_held_to_PyTorchs_outputs_and_re_saved()
    {
        CopyAsset("torchscript/resnet_tiny.pt", "resnet_tiny.pt");
        Manifest(Resnet);
        var result = Modelbuild("build", "--out", "out");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("all checks passed", result.Output);

        var report = Report("resnet");
        Assert.Equal("pytorch", report.GetProperty("parity_reference").GetString());
        AssertRealParity(report, 1e-4);

        // model.pt: a TorchScript archive our reader accepts, in eval mode, computing what the deployed ONNX computes.
        var pt = Path.Combine(_dir, "out", "models", "resnet", "model.pt");
        var archive = TorchScriptReader.Read(pt, new SourceLocation(pt));
        Assert.Equal(false, archive.Root.Attributes["training"]);
        var options = new ConversionOptions
        {
            Inputs = [new ConversionInput("image", TensorElementType.Float32, [Dimension.Dynamic("batch"), Dimension.Fixed(3), Dimension.Fixed(32), Dimension.Fixed(32)])],
            OutputNames = ["logits"],
        };
        var reconverted = Path.Combine(_dir, "reconverted.onnx");
        File.WriteAllBytes(reconverted, OnnxModelFile.Serialize(TorchScriptToOnnx.Convert(archive, options)));
        var rng = new Random(7);
        var image = new NdArray(TensorElementType.Float32, [2, 3, 32, 32], Enumerable.Range(0, 2 * 3 * 32 * 32).Select(_ => (float)rng.NextDouble()).ToArray());
        using var fromPt = new ModelRunner(reconverted, new SourceLocation(reconverted));
        using var deployed = new ModelRunner(Path.Combine(_dir, "out", "deploy", "triton", "resnet", "1", "model.onnx"), new SourceLocation(reconverted));
        var a = fromPt.Run(new Dictionary<string, NdArray> { ["image"] = image })["logits"].ToDoubles();
        var b = deployed.Run(new Dictionary<string, NdArray> { ["image"] = image })["logits"].ToDoubles();
        Assert.True(a.Zip(b, (x, y) => Math.Abs(x - y)).Max() <= 1e-5);

        var config = File.ReadAllText(Path.Combine(_dir, "out", "deploy", "triton", "resnet", "config.pbtxt"));
        Assert.Contains("name: \"resnet\"", config);
        Assert.Contains("platform: \"onnxruntime_onnx\"", config);
        Assert.Contains("max_batch_size: 4", config);
        Assert.Matches(new Regex(@"name: ""image""\s+data_type: TYPE_FP32\s+dims: \[ 3, 32, 32 \]"), config);
        Assert.Matches(new Regex(@"name: ""logits""\s+data_type: TYPE_FP32\s+dims: \[ 10 \]"), config);
    }

    [Fact]
    public void Triton_libtorch_platform_serves_the_re_saved_model_pt()
    {
        CopyAsset("torchscript/resnet_tiny.pt", "resnet_tiny.pt");
        Manifest(Resnet.Replace("triton: { max_batch_size: 4 }", "triton: { max_batch_size: 4, platform: pytorch }"));
        var result = Modelbuild("build", "--out", "out", "-q");
        Assert.True(result.ExitCode == 0, result.ToString());
        var version = Path.Combine(_dir, "out", "deploy", "triton", "resnet", "1");
        Assert.Equal(["model.pt"], Directory.GetFiles(version).Select(Path.GetFileName));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "out", "models", "resnet", "model.pt")), File.ReadAllBytes(Path.Combine(version, "model.pt")));
        var config = File.ReadAllText(Path.Combine(_dir, "out", "deploy", "triton", "resnet", "config.pbtxt"));
        Assert.Contains("platform: \"pytorch_libtorch\"", config);
        Assert.Matches(new Regex(@"name: ""INPUT__0""\s+data_type: TYPE_FP32\s+dims: \[ 3, 32, 32 \]"), config);
        Assert.Matches(new Regex(@"name: ""OUTPUT__0""\s+data_type: TYPE_FP32\s+dims: \[ 10 \]"), config);
    }

    [Fact]
    public void A_parity_violation_against_PyTorch_exits_1_with_MB3001_at_the_threshold()
    {
        CopyAsset("torchscript/resnet_tiny.pt", "resnet_tiny.pt");
        Manifest(Resnet.Replace("max_abs: 1.0e-4", "max_abs: 1.0e-12").Replace("torchscript: true", "torchscript: false"));
        var result = Modelbuild("build", "--out", "out", "-q");
        Assert.Equal(1, result.ExitCode);
        Assert.Matches(new Regex(@"deploy\.yaml\(13,26\): error MB3001: model 'resnet', base export: max abs difference from the source model's outputs is [0-9.e-]+, which breaks parity\.max_abs <= 1e-12"), result.Output);
    }

    [Fact]
    public void Forward_flags_from_the_manifest_reach_the_export_and_the_reference()
    {
        CopyAsset("converter/flagged.pt", "flagged.pt");
        Manifest("""
            schema: 1
            models:
              - name: flagged
                source: flagged.pt
                inputs: [ { name: x, shape: [batch, 12] } ]
                export:
                  arguments: { normalize: true, scale: 3 }
                checks:
                  parity: { max_abs: 1.0e-4 }
            """);
        var result = Modelbuild("build", "--out", "out");
        Assert.True(result.ExitCode == 0, result.ToString());
        var report = Report("flagged");
        Assert.Equal("pytorch", report.GetProperty("parity_reference").GetString());
        AssertRealParity(report, 1e-4);
    }

    [Fact]
    public void TorchSharp_module_is_exported_and_held_to_its_own_forward()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "bin"));
        File.Copy(RepoPaths.TorchSharpFixtures, Path.Combine(_dir, "bin", "Models.dll"));
        Manifest("""
            schema: 1
            models:
              - name: cnn
                source: { torchsharp: { assembly: bin/Models.dll, type: ModelBuild.TorchSharpFixtures.Cnn } }
                inputs: [ { name: image, shape: [batch, 1, 16, 16] } ]
                outputs: [ { name: logprobs } ]
                checks:
                  parity: { max_abs: 1.0e-4 }
              - name: opaque
                source: { torchsharp: { assembly: bin/Models.dll, type: ModelBuild.TorchSharpFixtures.WithOpaque } }
                inputs: [ { name: x, shape: [batch, 4] } ]
            """);
        var result = Modelbuild("build", "--out", "out");
        Assert.Equal(2, result.ExitCode);
        Assert.Matches(new Regex(@"deploy\.yaml\(10,13\): error MB2021: .*ModelBuild\.TorchSharpFixtures\.Opaque.*IOnnxExportable"), result.Output);

        Manifest(File.ReadAllText(Path.Combine(_dir, "deploy.yaml")).Split("  - name: opaque")[0]);
        result = Modelbuild("build", "--out", "out");
        Assert.True(result.ExitCode == 0, result.ToString());
        var report = Report("cnn");
        Assert.Equal("torchsharp", report.GetProperty("parity_reference").GetString());
        Assert.Equal("torchsharp", report.GetProperty("source_kind").GetString());
        AssertRealParity(report, 1e-4);
        Assert.True(File.Exists(Path.Combine(_dir, "out", "models", "cnn", "model.onnx")));
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
