using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Execution;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Passes.Pruning;
using ModelBuild.Passes.Quantization;
using ModelBuild.TorchScript;
using ModelBuild.TorchScript.Conversion;
using TorchSharp;
using Xunit.Abstractions;

namespace ModelBuild.Torch.Tests;

/// <summary>Quantization-aware training of static QDQ models with libtorch, judged by ONNX Runtime on Fashion-MNIST.</summary>
public sealed class QatTests(ITestOutputHelper output) : IDisposable
{
    private static readonly SourceLocation Where = new("deploy.yaml", 12, 9);
    private readonly string _dir = Directory.CreateTempSubdirectory("mb-qat-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Repo
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ModelBuild.sln"))) dir = dir.Parent;
            return dir!.FullName;
        }
    }

    private static string Sample(string file) => Path.Combine(Repo, "testassets", "SampleApp", file);
    private static string Fashion => Sample("models/fashion.onnx");
    private static string Test => Sample("data/test.npz");
    private static string Calib => Sample("data/calib.npy");
    private static string Train => Sample("data/train.npz");

    private static double Top1(string path)
    {
        var data = NpzReader.ReadAll(Test);
        using var runner = new ModelRunner(path, Where);
        var logits = runner.Run(new Dictionary<string, NdArray> { ["input"] = data["input"] })["logits"];
        return Metrics.Top1Accuracy(logits, data["labels"]);
    }

    /// <summary>Static QDQ as the manifest's defaults make it, but with every node quantized (no timing-dependent choices).</summary>
    private static StaticQuantConfig Static(CalibrationMethod method) => new() { Method = method, LatencyAware = false };

    private string Quantized(string model, CalibrationMethod method, string name)
    {
        var path = Path.Combine(_dir, name + ".onnx");
        new QuantizeStaticPass(Static(method), Calib, Where).Run(new PassContext(model, path, "m", name, CancellationToken.None));
        return path;
    }

    private string Qat(string model, CalibrationMethod method, FineTuneSettings settings, bool learnScales, string name, PassContext? context = null)
    {
        var path = Path.Combine(_dir, name + ".onnx");
        new QuantizeQatPass(new QatConfig(Static(method), settings, learnScales), Calib, Where, new OnnxFineTuner())
            .Run(context ?? new PassContext(model, path, "m", name, CancellationToken.None));
        return path;
    }

    /// <summary>The depthwise MobileNet-style network (testassets/training/train_dwnet.py), converted from its TorchScript.</summary>
    private string DwNet()
    {
        var options = new ConversionOptions
        {
            Inputs = [new ConversionInput("input", TensorElementType.Float32, [Dimension.Dynamic("batch"), Dimension.Fixed(1), Dimension.Fixed(28), Dimension.Fixed(28)])],
            OutputNames = ["logits"],
            Location = Where,
        };
        var path = Path.Combine(_dir, "dwnet.onnx");
        var pt = Path.Combine(Repo, "testassets", "QatApp", "models", "dwnet.pt");
        File.WriteAllBytes(path, OnnxModelFile.Serialize(TorchScriptToOnnx.Convert(TorchScriptReader.Read(pt, Where), options)));
        return path;
    }

    [Fact]
    public void The_fake_quantized_graph_reproduces_onnx_runtimes_int8_model()
    {
        TorchNativeLoader.EnsureLoaded();
        var qdq = Quantized(Fashion, CalibrationMethod.MinMax, "static");
        var input = NpzReader.ReadAll(Test)["input"].Slice(0, 200);
        using var runner = new ModelRunner(qdq, Where);
        var expected = runner.Run(new Dictionary<string, NdArray> { ["input"] = input })["logits"];
        using var graph = new OnnxTorchGraph(OnnxModelFile.Load(qdq), Where, new QatTraining(LearnScales: true, ReduceRange: false));
        using var x = TorchTensors.ToTensor(input);
        using var y = graph.Forward(new Dictionary<string, torch.Tensor> { ["input"] = x });
        var actual = TorchTensors.ToNdArray(y);
        var (e, a) = (expected.As<float>(), actual.As<float>());
        var maxDiff = e.Zip(a).Max(p => Math.Abs(p.First - p.Second));
        var agree = Metrics.Top1Accuracy(actual, ArgMax(expected));
        output.WriteLine($"max |ORT int8 − fake quant| {maxDiff:0.0000}, top-1 agreement {agree:0.000}");
        // ONNX Runtime computes in integers and rounds each requantized activation; float fake quantization can land a
        // value on the neighbouring step now and then, nothing more.
        Assert.True(agree >= 0.99, $"agreement {agree}");
        Assert.True(maxDiff < 0.5, $"max diff {maxDiff}");
        Assert.True(e.Zip(a).Average(p => Math.Abs(p.First - p.Second)) < 0.02);
    }

    [Fact]
    public void Scratch_fashion()
    {
        var fp32 = Top1(Fashion);
        foreach (var m in new[] { CalibrationMethod.MinMax, CalibrationMethod.Entropy, CalibrationMethod.Percentile })
        {
            var st = Top1(Quantized(Fashion, m, "s" + m));
            var settings = new FineTuneSettings(Train, Samples: 3000, LearningRate: 1e-4);
            var learned = Top1(Qat(Fashion, m, settings, true, "ql" + m));
            var frozen = Top1(Qat(Fashion, m, settings, false, "qf" + m));
            output.WriteLine($"{m}: fp32 {fp32:0.000} static {st:0.000} qat learned {learned:0.000} frozen {frozen:0.000}");
        }
    }

    private static NdArray ArgMax(NdArray logits)
    {
        var v = logits.As<float>();
        var classes = (int)logits.Shape[1];
        var ids = Enumerable.Range(0, (int)logits.Shape[0])
            .Select(r => (long)Enumerable.Range(0, classes).MaxBy(c => v[r * classes + c])).ToArray();
        return NdArray.Of(ids, ids.Length);
    }
}
