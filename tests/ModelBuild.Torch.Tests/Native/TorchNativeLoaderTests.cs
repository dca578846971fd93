using TorchSharp;
using Xunit.Abstractions;

namespace ModelBuild.Torch.Tests.Native;

public sealed class TorchNativeLoaderTests(ITestOutputHelper output)
{
    [Fact]
    public void TorchSharp_loads_and_computes()
    {
        var status = TorchNativeLoader.EnsureLoaded();
        output.WriteLine($"load {status.LoadTime.TotalMilliseconds:F0} ms, patched: {status.PatchedCopyPath ?? "no"} ({string.Join(", ", status.WeakenedVersions)})");

        using var a = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using var b = torch.ones(3, 2);
        using var c = a.matmul(b);
        Assert.Equal([3f, 3f, 12f, 12f], c.data<float>().ToArray());
        Assert.Same(status, TorchNativeLoader.EnsureLoaded());
    }
}
