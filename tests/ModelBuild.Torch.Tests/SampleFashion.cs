using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Execution;

namespace ModelBuild.Torch.Tests;

/// <summary>The repository's test assets and the sample app's Fashion-MNIST model and data, shared by the training tests.</summary>
internal static class SampleFashion
{
    public static string Repo { get; } = FindRepo();

    private static string FindRepo()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ModelBuild.sln"))) dir = dir.Parent;
        return dir!.FullName;
    }

    /// <summary>A file of testassets/SampleApp.</summary>
    public static string Sample(string relative) => Path.Combine(Repo, "testassets", "SampleApp", relative);

    public static string Model => Sample("models/fashion.onnx");
    public static string Test => Sample("data/test.npz");
    public static string Calibration => Sample("data/calib.npy");
    public static string Train => Sample("data/train.npz");

    /// <summary>Top-1 of a Fashion model file (input "input", output "logits") on the sample's 1000 test images, in ONNX Runtime.</summary>
    public static double Top1(string path, SourceLocation location)
    {
        var data = NpzReader.ReadAll(Test);
        using var runner = new ModelRunner(path, location);
        var logits = runner.Run(new Dictionary<string, NdArray> { ["input"] = data["input"] })["logits"];
        return Metrics.Top1Accuracy(logits, data["labels"]);
    }
}
