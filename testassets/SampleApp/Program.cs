using System.IO.Compression;
using Microsoft.ML.OnnxRuntime;

// The model ModelBuild deployed sits in the app's output folder as content, like any other file.
var modelPath = Path.Combine(AppContext.BaseDirectory, "models", "fashion", "optimized", "model.onnx");
var dataPath = Path.Combine(AppContext.BaseDirectory, "data", "test.npz");
string[] classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

using var session = new InferenceSession(modelPath);
var (images, labels) = SampleData.Read(dataPath, count: 8);

var correct = 0;
for (var i = 0; i < labels.Length; i++)
{
    using var input = OrtValue.CreateTensorValueFromMemory(images[(i * 784)..((i + 1) * 784)], new long[] { 1, 1, 28, 28 });
    using var outputs = session.Run(new RunOptions(), new[] { "input" }, new[] { input }, new[] { "logits" });
    var logits = outputs[0].GetTensorDataAsSpan<float>();
    var predicted = 0;
    for (var c = 1; c < logits.Length; c++)
        if (logits[c] > logits[predicted]) predicted = c;
    correct += predicted == labels[i] ? 1 : 0;
    Console.WriteLine($"image {i}: predicted {classes[predicted],-12} actual {classes[labels[i]]}");
}
Console.WriteLine($"{correct} of {labels.Length} correct, model {Path.GetRelativePath(AppContext.BaseDirectory, modelPath)}");

/// <summary>Reads the first images and labels from the sample's test.npz (float32 and int64 .npy entries).</summary>
internal static class SampleData
{
    public static (float[] Images, long[] Labels) Read(string npzPath, int count)
    {
        using var zip = ZipFile.OpenRead(npzPath);
        var images = ReadNpy<float>(zip.GetEntry("input.npy")!, count * 784);
        var labels = ReadNpy<long>(zip.GetEntry("labels.npy")!, count);
        return (images, labels);
    }

    private static T[] ReadNpy<T>(ZipArchiveEntry entry, int elements) where T : struct
    {
        using var stream = entry.Open();
        using var reader = new BinaryReader(stream);
        reader.ReadBytes(8); // magic "\x93NUMPY" + version
        var headerLength = reader.ReadUInt16();
        reader.ReadBytes(headerLength);
        var bytes = reader.ReadBytes(elements * System.Runtime.InteropServices.Marshal.SizeOf<T>());
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }
}
