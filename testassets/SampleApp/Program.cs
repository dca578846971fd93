using System.IO.Compression;
using ModelBuild.Models;

// FashionModel is generated at build time from the deployed model's real interface (input float32[batch,1,28,28],
// output logits float32[batch,10]): if the model's interface changes, this file stops compiling.
var dataPath = Path.Combine(AppContext.BaseDirectory, "data", "test.npz");
string[] classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

using var model = FashionModel.Load();
var (images, labels) = SampleData.Read(dataPath, count: 8);

// One batched call for all images.
var logits = model.Run(images, batch: labels.Length).Logits;
var correct = 0;
for (var i = 0; i < labels.Length; i++)
{
    var row = logits.AsSpan(i * classes.Length, classes.Length);
    var predicted = 0;
    for (var c = 1; c < row.Length; c++)
        if (row[c] > row[predicted]) predicted = c;
    correct += predicted == labels[i] ? 1 : 0;
    Console.WriteLine($"image {i}: predicted {classes[predicted],-12} actual {classes[labels[i]]}");
}
Console.WriteLine($"{correct} of {labels.Length} correct, model {Path.GetRelativePath(AppContext.BaseDirectory, model.Model.Path)}");

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
