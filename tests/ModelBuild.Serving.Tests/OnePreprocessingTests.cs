using System.Net.Http.Headers;
using System.Text.Json;
using ModelBuild.Data;
using ModelBuild.Data.Sources;
using ModelBuild.Diagnostics;
using ModelBuild.Execution;
using ModelBuild.Onnx;
using ModelBuild.Pipeline;
using ModelBuild.Runtime;

namespace ModelBuild.Serving.Tests;

/// <summary>
/// The same image files give the same predictions wherever they enter (issue 18): the build's evaluation (whose
/// top-1 the report states), <c>modelbuild serve</c>'s /predict on the build's folder, Triton's preprocessing model
/// (run in ONNX Runtime, then the model) and the typed class the build generated (RunImage). Fashion-MNIST test
/// images saved as 32×32 PNGs, declared once in deploy.yaml as <c>preprocess: { size: [28, 28], … }</c>.
/// </summary>
public sealed class OnePreprocessingTests : IDisposable
{
    private const int Images = 48;
    private const int Side = 32;
    private readonly string _dir = Directory.CreateTempSubdirectory("mb-one-preprocess-").FullName;

    private string Out => Path.Combine(_dir, "out");

    [Fact]
    public async Task Evaluation_predict_triton_preprocessing_and_the_typed_class_agree_on_the_same_files()
    {
        var files = WriteImages();
        Directory.CreateDirectory(Path.Combine(_dir, "models"));
        File.Copy(ServerFixture.ModelPath, Path.Combine(_dir, "models", "fashion.onnx"));
        File.WriteAllText(Path.Combine(_dir, "deploy.yaml"), $"""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
                preprocess: {"{"} size: [28, 28], mean: [0.2860], std: [0.3530] {"}"}
                evaluate: {"{"} data: {"{"} images: images {"}"}, metric: top1 {"}"}
                deploy:
                  triton: {"{"} max_batch_size: 8, preprocessing: {"{"} input: {"{"} shape: [{Side}, {Side}] {"}"} {"}"} {"}"}
            """);
        var diagnostics = new DiagnosticBag();
        var report = BuildPipeline.Run([Path.Combine(_dir, "deploy.yaml")], new BuildOptions { OutputDirectory = Out }, diagnostics);
        Assert.False(diagnostics.HasErrors, string.Join("\n", diagnostics));
        var model = Assert.Single(report!.Models);
        var deployedPath = Path.Combine(Out, "models", "fashion", "model.onnx");
        var recorded = DeployedModels.Preprocessing("fashion", Out);
        Assert.Equal(model.Preprocess, recorded);
        Assert.Equal([28, 28], recorded!.Size!);

        // 1. The build's evaluation: the inputs its image-folder reader made, run here; their top-1 is the report's.
        using var runner = new ModelRunner(deployedPath, new SourceLocation(deployedPath));
        var interfaceInputs = ModelInterfaceReader.Read(OnnxModelFile.Load(deployedPath), new SourceLocation(deployedPath)).Inputs;
        var evaluation = new List<float[]>();
        var source = ImageFolderSource.Open(Path.Combine(_dir, "images"), recorded, interfaceInputs, null, new SourceLocation("test"));
        foreach (var batch in source.Batches(16))
        {
            var logits = runner.Run(batch)["logits"];
            var rows = (int)logits.Shape[0];
            for (var r = 0; r < rows; r++) evaluation.Add(logits.As<float>().AsSpan(r * 10, 10).ToArray());
        }
        var labels = files.Select(f => f.Label).ToArray();
        var top1 = evaluation.Zip(labels).Count(p => ArgMax(p.First) == p.Second) / (double)Images;
        Assert.Equal(model.Artifacts[0].Score!.Value, top1, 6);
        Assert.InRange(top1, 0.7, 1.0);

        // 2. /predict on the build's output folder.
        await using var server = await ModelServer.StartAsync(new ServerOptions { Directory = Out, Port = 0, MaxRequestBodyBytes = 1 << 20 });
        using var http = new HttpClient { BaseAddress = server.Address };
        var served = new List<int>();
        foreach (var file in files)
        {
            var content = new ByteArrayContent(File.ReadAllBytes(file.Path));
            content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            using var response = await http.PostAsync("predict", content);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, text);
            served.Add(JsonDocument.Parse(text).RootElement.GetProperty("predictions")[0].GetProperty("index").GetInt32());
        }

        // 3. Triton's preprocessing model on the raw pixels, then the model.
        var prePath = Path.Combine(Out, "deploy", "triton", Manifest.DerivedNames.TritonPreprocess("fashion"), "1", "model.onnx");
        using var pre = new ModelRunner(prePath, new SourceLocation(prePath));
        var triton = new List<float[]>();
        foreach (var file in files)
        {
            var raw = new NdArray(TensorElementType.UInt8, [1, Side, Side], file.Pixels);
            var input = pre.Run(new Dictionary<string, NdArray> { ["image"] = raw }).Single().Value;
            triton.Add(runner.Run(new Dictionary<string, NdArray> { ["input"] = input })["logits"].As<float>());
        }

        // 4. The typed class the build generated, compiled as an app would, from the same pixels.
        var typed = TypedRunImage(files);

        var expected = evaluation.Select(ArgMax).ToList();
        Assert.Equal(expected, served);
        Assert.Equal(expected, triton.Select(ArgMax).ToList());
        Assert.Equal(expected, typed.Select(ArgMax).ToList());
        // Not only the same class: the same numbers, to float rounding (ONNX Resize vs C# in the Triton model).
        Assert.All(evaluation.Zip(triton), p => Assert.True(MaxDiff(p.First, p.Second) < 1e-4, $"triton {MaxDiff(p.First, p.Second)}"));
        Assert.All(evaluation.Zip(typed), p => Assert.Equal(0, MaxDiff(p.First, p.Second), 5));
    }

    private List<float[]> TypedRunImage(IReadOnlyList<ImageFile> files)
    {
        var generated = File.ReadAllText(Path.Combine(Out, ".modelbuild", "ModelBuild.Models.g.cs"));
        Assert.Contains("public FashionModelOutput RunImage(", generated);
        // What an app writes: decode an image, hand its bytes to RunImage.
        const string app = """
            public static class App
            {
                public static float[] Classify(string folder, byte[] pixels, int width, int height)
                {
                    using var model = ModelBuild.Models.FashionModel.Load(folder);
                    return model.RunImage(pixels, width, height, 1).Logits;
                }
            }
            """;
        var (assembly, errors) = TypedModelTests.Compile(generated + app);
        Assert.True(assembly is not null, string.Join("\n", errors));
        var classify = assembly.GetType("App")!.GetMethod("Classify")!;
        return files.Select(f => (float[])classify.Invoke(null, [Out, f.Pixels, Side, Side])!).ToList();
    }

    private sealed record ImageFile(string Path, byte[] Pixels, int Label);

    /// <summary>The first test images, back to bytes and enlarged to 32×32 (nearest neighbour), as PNG in class folders.</summary>
    private List<ImageFile> WriteImages()
    {
        var data = NpzReader.ReadAll(ServerFixture.TestData);
        var inputs = data["input"].As<float>();
        var labels = data["labels"].ToDoubles();
        var files = new List<ImageFile>();
        // Every class folder exists, so folder order is label order however few images a class gets.
        for (var k = 0; k < 10; k++) Directory.CreateDirectory(Path.Combine(_dir, "images", $"class{k}"));
        for (var i = 0; i < Images; i++)
        {
            var pixels = new byte[Side * Side];
            for (var y = 0; y < Side; y++)
                for (var x = 0; x < Side; x++)
                {
                    pixels[y * Side + x] = TestImages.FashionPixel(inputs[i * 784 + y * 28 / Side * 28 + x * 28 / Side]);
                }
            var label = (int)labels[i];
            var path = Path.Combine(_dir, "images", $"class{label}", $"{i:D3}.png");
            File.WriteAllBytes(path, TestImages.Png(Side, Side, pixels));
            files.Add(new ImageFile(path, pixels, label));
        }
        // The image folder reader takes classes in name order and files in name order within each.
        return files.OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
    }

    private static int ArgMax(float[] values) => Array.IndexOf(values, values.Max());

    private static double MaxDiff(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs((double)p.First - p.Second));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
