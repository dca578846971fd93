using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.TorchScript;
using TorchSharp;

namespace ModelBuild.Torch.Tests;

public sealed class TorchScriptRunnerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mb-tsrun-" + Guid.NewGuid().ToString("N"));

    public TorchScriptRunnerTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Asset(string name) => Path.Combine(AppContext.BaseDirectory, "assets", "torchscript", name);

    public static TheoryData<string> Zoo =>
    [
        "conv_bn_relu_linear", "flag_scripted", "mlp_layernorm_gelu", "lstm", "constant_traced",
        "transformer_encoder", "resnet_tiny", "mobilenet_v2_tiny",
    ];

    private static (object[] Inputs, List<NdArray> Outputs) Reference(string name)
    {
        var npz = NpzReader.ReadAll(Asset(name + ".npz"));
        var inputs = npz.ContainsKey("input")
            ? [npz["input"]]
            : Enumerable.Range(0, 10).Select(i => $"input{i}").TakeWhile(npz.ContainsKey).Select(k => (object)npz[k]).ToArray();
        var outputs = Enumerable.Range(0, 10).Select(i => $"output{i}").TakeWhile(npz.ContainsKey).Select(k => npz[k]).ToList();
        return (inputs, outputs);
    }

    private static void Close(NdArray expected, NdArray actual, double tol)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.ToDoubles();
        var a = actual.ToDoubles();
        for (var i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= tol, $"element {i}: {a[i]} vs reference {e[i]}");
    }

    [Theory]
    [MemberData(nameof(Zoo))]
    public void Reproduces_the_PyTorch_reference_outputs(string name)
    {
        var (inputs, expected) = Reference(name);
        using var runner = TorchScriptRunner.Load(Asset(name + ".pt"));
        var outputs = runner.Run(inputs);
        Assert.Equal(expected.Count, outputs.Count);
        for (var i = 0; i < expected.Count; i++) Close(expected[i], outputs[i], 1e-5);
        Assert.Equal(1, torch.get_num_threads());
    }

    [Fact]
    public void Scalar_flags_are_passed_to_forward()
    {
        var (inputs, expected) = Reference("flag_scripted");
        using var runner = TorchScriptRunner.Load(Asset("flag_scripted.pt"));
        Close(expected[0], runner.Run(inputs[0], false)[0], 1e-5);
        // Eval mode: dropout is the identity even when the flag asks for it.
        Close(expected[0], runner.Run(inputs[0], true)[0], 1e-5);
    }

    [Fact]
    public void Unloadable_file_is_MB2003_and_missing_file_MB2001()
    {
        var junk = Path.Combine(_dir, "junk.pt");
        File.WriteAllText(junk, "not a model");
        Assert.Equal(DiagnosticCodes.RuntimeRejectedModel, Assert.Throws<ModelBuildException>(() => TorchScriptRunner.Load(junk)).Diagnostic.Code);
        Assert.Equal(DiagnosticCodes.ModelUnreadable, Assert.Throws<ModelBuildException>(() => TorchScriptRunner.Load(Path.Combine(_dir, "no.pt"))).Diagnostic.Code);
    }

    [Fact]
    public void An_input_forward_cannot_take_is_reported_with_libtorchs_reason_not_its_generic_first_line()
    {
        var (inputs, _) = Reference("conv_bn_relu_linear");
        var good = (NdArray)inputs[0];
        // One more channel than the first convolution has weights for.
        var shape = good.Shape.ToArray();
        shape[1] += 1;
        var wrong = new NdArray(good.ElementType, shape, new float[shape.Aggregate(1L, (a, b) => a * b)]);
        using var runner = TorchScriptRunner.Load(Asset("conv_bn_relu_linear.pt"));
        var error = Assert.Throws<ModelBuildException>(() => runner.Run(wrong));
        Assert.Equal(DiagnosticCodes.RuntimeRejectedModel, error.Diagnostic.Code);
        Assert.Contains("RuntimeError: ", error.Message);
        Assert.Contains("channels", error.Message);
        Assert.DoesNotContain("The following operation failed", error.Message);
    }

    [Fact]
    public void Resaver_writes_an_eval_mode_copy_that_reproduces_the_outputs()
    {
        // Start from a model saved in training mode, as a user might.
        var training = Path.Combine(_dir, "training.pt");
        using (var runner = TorchScriptRunner.Load(Asset("conv_bn_relu_linear.pt")))
        {
            runner.Module.train();
            torch.jit.save(runner.Module, training);
        }
        Assert.Equal(true, TorchScriptReader.Read(training, new SourceLocation(training)).Root.Attributes["training"]);

        var (inputs, expected) = Reference("conv_bn_relu_linear");
        var destination = Path.Combine(_dir, "out", "model.pt");
        var result = TorchScriptResaver.Resave(training, destination, [inputs]);
        Assert.Equal(destination, result.Path);
        Assert.Equal(0, result.MaxAbsDifference);
        Assert.True(result.SizeBytes > 1000);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(destination)!, "*.tmp"));

        var saved = TorchScriptReader.Read(destination, new SourceLocation(destination));
        Assert.Equal(false, saved.Root.Attributes["training"]);
        Assert.Equal(false, ((ScriptObject)saved.Root.Attributes["bn"]!).Attributes["training"]);
        using var reloaded = TorchScriptRunner.Load(destination);
        Close(expected[0], reloaded.Run(inputs)[0], 1e-5);
    }
}
