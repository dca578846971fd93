using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.TorchScript;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.TorchScript;

public sealed class TorchScriptZooTests
{
    internal static string Asset(string name) => Path.Combine(AppContext.BaseDirectory, "assets", "torchscript", name);
    private static readonly SourceLocation Where = new("deploy.yaml", 4, 13);

    public static TheoryData<string> Zoo =>
    [
        "conv_bn_relu_linear", "flag_scripted", "mlp_layernorm_gelu", "lstm", "constant_traced",
        "transformer_encoder", "resnet_tiny", "mobilenet_v2_tiny",
    ];

    /// <summary>Tensors in state_dict order: depth-first over attributes in pickle order.</summary>
    internal static List<(string Name, TorchTensor Tensor)> Tensors(ScriptObject obj, string prefix = "")
    {
        var result = new List<(string, TorchTensor)>();
        foreach (var (name, value) in obj.Attributes)
        {
            if (value is TorchTensor t) result.Add((prefix + name, t));
            else if (value is ScriptObject child) result.AddRange(Tensors(child, prefix + name + "."));
        }
        return result;
    }

    [Theory]
    [MemberData(nameof(Zoo))]
    public void Reads_every_zoo_model_with_the_reference_parameters(string name)
    {
        var archive = TorchScriptReader.Read(Asset(name + ".pt"), Where);
        var reference = NpzReader.ReadAll(Asset(name + ".npz"));

        Assert.Equal(name, archive.RootFolder);
        Assert.StartsWith("__torch__.", archive.Root.TypeName);
        Assert.True(archive.FormatVersion >= 3);
        Assert.Contains(archive.CodeFiles.Values, c => c.Contains("def forward"));
        Assert.Equal(false, archive.Root.Attributes["training"]); // saved in eval mode

        var tensors = Tensors(archive.Root);
        Assert.Equal(reference["param_count"].As<long>()[0], tensors.Count);
        var first = tensors[0].Tensor;
        Assert.Equal(TensorElementType.Float32, first.ElementType);
        Assert.Equal(reference["first_param"].As<float>(), first.Values.As<float>());
    }

    [Fact]
    public void Module_tree_has_type_names_and_shapes()
    {
        var archive = TorchScriptReader.Read(Asset("conv_bn_relu_linear.pt"), Where);
        var root = archive.Root;
        Assert.Equal("__torch__.ConvBnReluLinear", root.TypeName);
        var conv = Assert.IsType<ScriptObject>(root.Attributes["conv"]);
        Assert.Equal("__torch__.torch.nn.modules.conv.Conv2d", conv.TypeName);
        Assert.Equal([4L, 1, 3, 3], Assert.IsType<TorchTensor>(conv.Attributes["weight"]).Shape);
        Assert.True(Assert.IsType<TorchTensor>(conv.Attributes["weight"]).RequiresGrad);
        var bn = Assert.IsType<ScriptObject>(root.Attributes["bn"]);
        Assert.Equal("__torch__.torch.nn.modules.batchnorm.BatchNorm2d", bn.TypeName);
        var tracked = Assert.IsType<TorchTensor>(bn.Attributes["num_batches_tracked"]);
        Assert.Equal(TensorElementType.Int64, tracked.ElementType);
        Assert.Empty(tracked.Shape);
        Assert.Equal([10L, 64], Assert.IsType<TorchTensor>(Assert.IsType<ScriptObject>(root.Attributes["fc"]).Attributes["weight"]).Shape);
        Assert.Empty(archive.Constants);
        Assert.Contains("__torch__/torch/nn/modules/conv.py", archive.CodeFiles.Keys);
        Assert.DoesNotContain(archive.CodeFiles.Keys, k => k.EndsWith(".debug_pkl"));
    }

    [Fact]
    public void Scripted_model_keeps_its_flag_in_code()
    {
        var archive = TorchScriptReader.Read(Asset("flag_scripted.pt"), Where);
        Assert.Equal("__torch__.FlagNet", archive.Root.TypeName);
        Assert.Contains("use_dropout: bool=False", archive.CodeFiles["__torch__.py"]);
        Assert.IsType<ScriptObject>(archive.Root.Attributes["drop"]);
    }

    [Fact]
    public void Constants_come_from_the_constants_folder()
    {
        var archive = TorchScriptReader.Read(Asset("constant_traced.pt"), Where);
        var c0 = Assert.IsType<TorchTensor>(Assert.Single(archive.Constants));
        Assert.Equal([3L], c0.Shape);
        Assert.Equal([1f, 2f, 3f], c0.Values.As<float>());
        Assert.Contains("CONSTANTS.c0", archive.CodeFiles["__torch__.py"]);
    }

    [Fact]
    public void Mangled_submodule_types_and_nested_containers()
    {
        var archive = TorchScriptReader.Read(Asset("resnet_tiny.pt"), Where);
        var layer1 = Assert.IsType<ScriptObject>(archive.Root.Attributes["layer1"]);
        Assert.StartsWith("__torch__.torch.nn.modules.container", layer1.TypeName);
        var block = Assert.IsType<ScriptObject>(layer1.Attributes["0"]);
        Assert.StartsWith("__torch__.torchvision.models.resnet", block.TypeName);
        Assert.EndsWith(".BasicBlock", block.TypeName);
    }

    /// <summary>
    /// torchvision.models.quantization and torch.ao.quantization's convert/quantize_dynamic save int8 tensors and packed
    /// modules with no float weights (testassets/training/make_quantized_torchscript.py): the user is told to save the
    /// float model and quantize it in a variant, not that the file may be malicious.
    /// </summary>
    [Theory]
    [InlineData("quantized_static.pt", "torch._utils._rebuild_qtensor")]
    [InlineData("quantized_dynamic.pt", "torch.classes.quantized.LinearPackedParamsBase")]
    public void Model_quantized_by_PyTorch_is_MB2021_that_asks_for_the_float_model(string file, string global)
    {
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptReader.Read(Asset(file), Where));
        Assert.Equal(DiagnosticCodes.UnsupportedTorchScript, e.Diagnostic.Code);
        Assert.Equal(Where, e.Diagnostic.Location);
        Assert.Contains("already quantized by PyTorch", e.Message);
        Assert.Contains(global, e.Message);
        Assert.Contains("before torch.ao.quantization.convert", e.Message);
        Assert.Contains("quantize: { mode: static", e.Message);
    }

    [Fact]
    public void Missing_file_is_MB2001()
    {
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptReader.Read(Asset("nope.pt"), Where));
        Assert.Equal(DiagnosticCodes.ModelUnreadable, e.Diagnostic.Code);
        Assert.Equal(Where, e.Diagnostic.Location);
    }
}
