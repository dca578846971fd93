using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;
using ModelBuild.TorchScript;
using ModelBuild.TorchScript.Conversion;
using Xunit.Abstractions;

namespace ModelBuild.Torch.Tests;

/// <summary>
/// export.arguments: the ONNX export is specialized with forward()'s flags, and libtorch's reference run gets the
/// same values, so parity compares like with like.
/// </summary>
public sealed class ForwardFlagTests(ITestOutputHelper log)
{
    private static readonly string Model = Path.Combine(AppContext.BaseDirectory, "assets", "converter", "flagged.pt");
    private static readonly SourceLocation At = new(Model);

    private static NdArray Input() => NpzReader.ReadAll(Path.Combine(AppContext.BaseDirectory, "assets", "converter", "flagged_normalize.npz"))["input"];

    private static ConversionOptions Options(NdArray x, Dictionary<string, object?> flags) => new()
    {
        Inputs = [new ConversionInput("input", TensorElementType.Float32, [Dimension.Dynamic("batch"), .. x.Shape.Skip(1).Select(Dimension.Fixed)])],
        OutputNames = ["out"],
        ConstantArguments = flags,
        Location = At,
    };

    private static NdArray Pytorch(ConversionOptions options, NdArray x)
    {
        var call = TorchScriptToOnnx.ForwardArguments(TorchScriptReader.Read(Model, At), options);
        using var reference = new TorchBackend().Open(Model, At, call);
        return reference.Run([x])[0];
    }

    private static NdArray Onnx(ConversionOptions options, NdArray x)
    {
        var path = Path.Combine(Path.GetTempPath(), $"mb-flags-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, OnnxModelFile.Serialize(TorchScriptToOnnx.Convert(TorchScriptReader.Read(Model, At), options)));
            using var runner = new ModelRunner(path, At);
            return runner.Run(new Dictionary<string, NdArray> { ["input"] = x })["out"];
        }
        finally { File.Delete(path); }
    }

    private static double MaxAbs(NdArray a, NdArray b) => a.ToDoubles().Zip(b.ToDoubles(), (x, y) => Math.Abs(x - y)).Max();

    public static TheoryData<string, bool?, double?> Flags => new()
    {
        { "defaults", null, null },
        { "normalize", true, null },
        { "scale only (normalize takes its default)", null, 3.0 },
        { "both", true, 0.5 },
    };

    [Theory]
    [MemberData(nameof(Flags))]
    public void Export_and_reference_use_the_same_flag_values(string what, bool? normalize, double? scale)
    {
        var flags = new Dictionary<string, object?>();
        if (normalize is { } n) flags["normalize"] = n;
        if (scale is { } s) flags["scale"] = s;
        var x = Input();
        var options = Options(x, flags);
        var diff = MaxAbs(Pytorch(options, x), Onnx(options, x));
        log.WriteLine($"{what}: max |ORT - PyTorch| = {diff:G3}");
        Assert.True(diff <= 1e-4, $"{what}: {diff}");
    }

    [Fact]
    public void The_flag_really_reaches_libtorch()
    {
        var x = Input();
        var plain = Pytorch(Options(x, []), x);
        var normalized = Pytorch(Options(x, new() { ["normalize"] = true }), x);
        Assert.True(MaxAbs(plain, normalized) > 1e-3);
        var call = TorchScriptToOnnx.ForwardArguments(TorchScriptReader.Read(Model, At), Options(x, new() { ["scale"] = 3L }));
        // normalize fills the gap with its default; an int for a float argument becomes a float (libtorch insists).
        Assert.Equal(["x", "normalize", "scale"], call.Select(a => a.Name));
        Assert.Equal(false, call[1].Value);
        Assert.Equal(3.0, call[2].Value);
    }

    [Fact]
    public void An_argument_forward_does_not_have_is_MB2021()
    {
        var x = Input();
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptToOnnx.Convert(TorchScriptReader.Read(Model, At), Options(x, new() { ["use_dropout"] = true })));
        Assert.Equal(DiagnosticCodes.UnsupportedTorchScript, e.Diagnostic.Code);
        Assert.Contains("use_dropout", e.Message);
        Assert.Contains("normalize, scale", e.Message);
    }
}
