using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;
using ModelBuild.TorchScript.Conversion;
using TorchSharp;
using Xunit.Abstractions;

namespace ModelBuild.Torch.Tests;

/// <summary>
/// TorchSharp (C#) modules as sources: loaded by path from the fixture assembly, weights written by Module.save,
/// exported to ONNX, and ONNX Runtime's outputs compared with the module's own C# forward.
/// </summary>
public sealed class TorchSharpModelTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = NewDirectory();

    private static string NewDirectory()
    {
        TorchNativeLoader.EnsureLoaded(); // before any torch call: the tests seed and save directly
        return Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "mb-tsharp-" + Guid.NewGuid().ToString("N"))).FullName;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "ModelBuild.TorchSharpFixtures.dll");

    private static TorchSharpSource Source(string type, string? weights = null) => new(Fixtures, "ModelBuild.TorchSharpFixtures." + type, weights);

    /// <summary>Fresh random weights, BatchNorm statistics made non-trivial, saved with Module.save.</summary>
    private string SaveWeights(string type, int seed)
    {
        using var model = TorchSharpModel.Load(Source(type));
        torch.manual_seed(seed); // Load seeds 0 for reproducible builds; these weights must differ from that
        using (torch.no_grad())
        {
            foreach (var (_, p) in model.Module.named_parameters()) p.add_(torch.randn_like(p) * 0.1);
            foreach (var (name, buffer) in model.Module.named_buffers())
            {
                if (name.EndsWith("running_mean")) buffer.copy_(torch.randn(buffer.shape) * 0.5);
                if (name.EndsWith("running_var")) buffer.copy_(torch.rand(buffer.shape) + 0.5);
            }
        }
        var path = Path.Combine(_dir, type + ".dat");
        model.Module.save(path);
        return path;
    }

    private static ConversionOptions Options(params ConversionInput[] inputs) => new() { Inputs = inputs, OutputNames = ["out"] };

    private static ConversionInput Input(string name, TensorElementType type, params object[] dims) =>
        new(name, type, dims.Select(d => d is string s ? Dimension.Dynamic(s) : Dimension.Fixed(Convert.ToInt64(d))).ToArray());

    private double ExportAndCompare(TorchSharpModel model, ConversionOptions options, NdArray input)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".onnx");
        var onnx = model.ToOnnx(options);
        File.WriteAllBytes(path, OnnxModelFile.Serialize(onnx));
        OnnxModelValidator.Validate(onnx, path, new SourceLocation(path));
        using var runner = new ModelRunner(path, new SourceLocation(path));
        var actual = runner.Run(new Dictionary<string, NdArray> { [options.Inputs[0].Name] = input })["out"];
        var expected = model.Run([input])[0];
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.ToDoubles();
        var a = actual.ToDoubles();
        var diff = e.Zip(a, (x, y) => Math.Abs(x - y)).Max();
        log.WriteLine($"{model.TypeName} {string.Join("x", input.Shape)}: max |ORT - TorchSharp| = {diff:G3}");
        return diff;
    }

    private static NdArray Floats(int seed, params long[] shape)
    {
        var rng = new Random(seed);
        var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (var i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 4 - 2);
        return new NdArray(TensorElementType.Float32, shape, data);
    }

    [Fact]
    public void Sequential_mlp_exports_and_matches_its_own_forward()
    {
        var weights = SaveWeights("Mlp", 1);
        using var model = TorchSharpModel.Load(Source("Mlp", weights));
        var options = Options(Input("x", TensorElementType.Float32, "batch", 16));
        foreach (var batch in new[] { 5, 1 })
        {
            var diff = ExportAndCompare(model, options, Floats(batch, batch, 16));
            Assert.True(diff <= 1e-4, $"batch {batch}: max |ORT − TorchSharp| = {diff}");
        }
    }

    [Fact]
    public void Sequential_cnn_with_nested_blocks_exports_and_matches()
    {
        var weights = SaveWeights("Cnn", 2);
        using var model = TorchSharpModel.Load(Source("Cnn", weights));
        var diff = ExportAndCompare(model, Options(Input("image", TensorElementType.Float32, "batch", 1, 16, 16)), Floats(3, 3, 1, 16, 16));
        Assert.True(diff <= 1e-4, $"max |ORT − TorchSharp| = {diff}");
        // Weights really came from the file: a fresh instance differs.
        torch.manual_seed(99);
        using var fresh = TorchSharpModel.Load(Source("Cnn"));
        Assert.NotEqual(fresh.Run([Floats(3, 3, 1, 16, 16)])[0].ToDoubles(), model.Run([Floats(3, 3, 1, 16, 16)])[0].ToDoubles());
    }

    [Fact]
    public void Custom_forward_exports_through_IOnnxExportable()
    {
        var weights = SaveWeights("TextClassifier", 3);
        using var model = TorchSharpModel.Load(Source("TextClassifier", weights));
        var rng = new Random(4);
        var tokens = new NdArray(TensorElementType.Int64, [4, 12], Enumerable.Range(0, 48).Select(_ => (long)rng.Next(50)).ToArray());
        var diff = ExportAndCompare(model, Options(Input("tokens", TensorElementType.Int64, "batch", 12)), tokens);
        Assert.True(diff <= 1e-4, $"max |ORT − TorchSharp| = {diff}");
    }

    [Fact]
    public void MultiheadAttention_exports_through_the_fused_attention_lowering()
    {
        var weights = SaveWeights("Attender", 6);
        using var model = TorchSharpModel.Load(Source("Attender", weights));
        var diff = ExportAndCompare(model, Options(Input("x", TensorElementType.Float32, "batch", 5, 8)), Floats(7, 3, 5, 8));
        Assert.True(diff <= 1e-4, $"max |ORT − TorchSharp| = {diff}");
    }

    [Fact]
    public void A_custom_forward_without_the_extension_point_is_MB2021_naming_the_module()
    {
        using var model = TorchSharpModel.Load(Source("WithOpaque"));
        var e = Assert.Throws<ModelBuildException>(() => model.ToOnnx(Options(Input("x", TensorElementType.Float32, "batch", 4))));
        Assert.Equal(DiagnosticCodes.UnsupportedTorchScript, e.Diagnostic.Code);
        Assert.Contains("ModelBuild.TorchSharpFixtures.Opaque", e.Message);
        Assert.Contains("model.inner", e.Message);
        Assert.Contains("IOnnxExportable", e.Message);
    }

    [Fact]
    public void Unknown_type_and_mismatched_weights_are_clear_errors()
    {
        var missing = Assert.Throws<ModelBuildException>(() => TorchSharpModel.Load(Source("Nope")));
        Assert.Equal(DiagnosticCodes.UnsupportedModelSource, missing.Diagnostic.Code);
        Assert.Contains("ModelBuild.TorchSharpFixtures.TextClassifier", missing.Message); // lists what is there

        var mlpWeights = SaveWeights("Mlp", 5);
        var wrong = Assert.Throws<ModelBuildException>(() => TorchSharpModel.Load(Source("Cnn", mlpWeights)));
        Assert.Equal(DiagnosticCodes.ModelUnreadable, wrong.Diagnostic.Code);
        Assert.Contains("Module.save", wrong.Message);
    }
}
