using System.Reflection;
using ModelBuild.Runtime;

namespace ModelBuild.Serving.Tests;

/// <summary>An output folder with the real sample model and a Triton config, served on an ephemeral loopback port.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public static string RepoRoot { get; } = typeof(ServerFixture).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "RepoRoot").Value!;
    public static string ModelPath { get; } = Path.Combine(RepoRoot, "testassets", "SampleApp", "models", "fashion.onnx");
    public static string TestData { get; } = Path.Combine(RepoRoot, "testassets", "SampleApp", "data", "test.npz");

    public static ImagePreprocessing Preprocessing { get; } = new() { Mean = [0.2860], Std = [0.3530] };

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "mb-serve-" + Guid.NewGuid().ToString("N"));
    public ModelServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public DeployedModel Local { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "models", "fashion"));
        File.Copy(ModelPath, Path.Combine(Directory, "models", "fashion", "model.onnx"));
        // The Fashion-MNIST normalization the sample model was trained with, recorded as a build records it.
        File.WriteAllText(Path.Combine(Directory, "models", "fashion", ImagePreprocessing.FileName), Preprocessing.ToJson());
        var config = Path.Combine(Directory, "deploy", "triton", "fashion", "config.pbtxt");
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(config)!);
        // A long queue delay so concurrent test requests reliably share batches.
        File.WriteAllText(config, "name: \"fashion\"\nmax_batch_size: 8\ndynamic_batching {\n  max_queue_delay_microseconds: 20000\n}\n");
        Server = await ModelServer.StartAsync(new ServerOptions
        {
            Directory = Directory,
            Port = 0,
            MaxRequestBodyBytes = 256 * 1024,
            Labels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
        });
        Http = new HttpClient { BaseAddress = Server.Address };
        Local = DeployedModel.Open(ModelPath, "fashion");
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        Local.Dispose();
        await Server.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
