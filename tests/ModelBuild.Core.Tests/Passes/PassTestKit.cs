using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Execution;
using Onnx;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>Hand-built graphs, the sample Fashion-MNIST model and ways to run them in ONNX Runtime.</summary>
internal static class PassTestKit
{
    public static readonly SourceLocation Where = new("deploy.yaml", 3, 5);

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ModelBuild.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("ModelBuild.sln not found above the test directory");
        }
    }

    public static string Fashion => Path.Combine(RepoRoot, "testassets", "SampleApp", "models", "fashion.onnx");
    public static string FashionCalibration => Path.Combine(RepoRoot, "testassets", "SampleApp", "data", "calib.npy");
    public static string FashionTest => Path.Combine(RepoRoot, "testassets", "SampleApp", "data", "test.npz");

    public static ModelProto NewModel(long opset = 17, long irVersion = 8)
    {
        var model = new ModelProto { IrVersion = irVersion, Graph = new GraphProto { Name = "g" }, ProducerName = "test" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    public static ValueInfoProto Value(string name, int elemType, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "batch" } : new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } } };
    }

    public static NodeProto Node(string op, string[] inputs, string[] outputs, string? name = null)
    {
        var n = new NodeProto { OpType = op, Name = name ?? op + "_" + outputs[0] };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
    }

    public static string Save(ModelProto model, string directory, string name)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
        return path;
    }

    public static IReadOnlyDictionary<string, NdArray> Run(string path, IReadOnlyDictionary<string, NdArray> inputs)
    {
        using var runner = new ModelRunner(path, Where);
        return runner.Run(inputs);
    }

    public static PassContext Context(string input, string output) => new(input, output, "m", "v", CancellationToken.None);

    public static Dictionary<string, int> OpCounts(string path) =>
        OnnxModelFile.Load(path).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Top-1 accuracy of a Fashion model file on the first <paramref name="samples"/> test samples.</summary>
    public static double FashionTop1(string path, int samples = 1000)
    {
        var arrays = NpzReader.ReadAll(FashionTest);
        var input = arrays["input"].Slice(0, samples);
        var labels = arrays["labels"].Slice(0, samples);
        using var runner = new ModelRunner(path, Where);
        var outputs = new List<NdArray>();
        for (var start = 0; start < samples; start += 500)
            outputs.Add(runner.Run(new Dictionary<string, NdArray> { ["input"] = input.Slice(start, Math.Min(500, samples - start)) })["logits"]);
        return Metrics.Top1Accuracy(NdArrayConcat.AlongFirstAxis(outputs), labels);
    }
}

/// <summary>A temp folder removed after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mb-pass-" + Guid.NewGuid().ToString("N"));
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
