using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Pipeline;
using ModelBuild.TorchScript;
using ModelBuild.TorchScript.Conversion;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.TorchScript.Conversion;

public sealed class ConverterErrorTests
{
    internal static TorchScriptArchive WithCode(string forwardBody, string file = "__torch__.py", string extraCode = "") => new()
    {
        Path = "model.pt",
        RootFolder = "model",
        Root = new ScriptObject { TypeName = "__torch__.Net", Attributes = new Dictionary<string, object?> { ["training"] = false } },
        Constants = [],
        CodeFiles = new Dictionary<string, string>
        {
            [file] = "class Net(Module):\n  training : bool\n  def forward(self: __torch__.Net,\n    x: Tensor,\n    flag: bool=False) -> Tensor:\n" + forwardBody + extraCode,
        },
    };

    internal static ConversionOptions Options(int opset = 17) => new()
    {
        Inputs = [new ConversionInput("input", TensorElementType.Float32, [Dimension.Dynamic("batch"), Dimension.Fixed(4)])],
        Opset = opset,
    };

    [Fact]
    public void Unsupported_op_names_op_file_and_line()
    {
        var archive = WithCode("    y = torch.relu(x)\n    z = torch.fancy_new_op(y, 3)\n    return z\n");
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptToOnnx.Convert(archive, Options()));
        Assert.Equal(DiagnosticCodes.UnsupportedTorchScript, e.Diagnostic.Code);
        Assert.Contains("'torch.fancy_new_op'", e.Message);
        Assert.Contains("code/__torch__.py, line 7", e.Message);
    }

    [Fact]
    public void Data_dependent_branch_is_refused()
    {
        var archive = WithCode("    if torch.gt(torch.sum(x), 0):\n      y = x\n    else:\n      y = torch.neg(x)\n    return y\n");
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptToOnnx.Convert(archive, Options()));
        Assert.Contains("data-dependent", e.Message);
        Assert.Contains("line 6", e.Message);
    }

    [Fact]
    public void Flag_branches_are_specialized()
    {
        var archive = WithCode("    if flag:\n      y = torch.neg(x)\n    else:\n      y = torch.relu(x)\n    return y\n");
        var plain = TorchScriptToOnnx.Convert(archive, Options());
        Assert.Contains(plain.Graph.Node, n => n.OpType == "Relu");
        Assert.DoesNotContain(plain.Graph.Node, n => n.OpType == "Neg");
        var flagged = TorchScriptToOnnx.Convert(archive, new ConversionOptions
        {
            Inputs = Options().Inputs,
            ConstantArguments = new Dictionary<string, object?> { ["flag"] = true },
        });
        Assert.Contains(flagged.Graph.Node, n => n.OpType == "Neg");
        Assert.DoesNotContain(flagged.Graph.Node, n => n.OpType == "Relu");
    }

    [Fact]
    public void Static_shape_arithmetic_is_folded_and_dynamic_batch_is_kept()
    {
        var archive = WithCode("    _0 = ops.prim.NumToTensor(torch.size(x, 0))\n    _1 = ops.prim.NumToTensor(torch.size(x, 1))\n    y = torch.view(x, [int(_0), int(torch.mul(_1, 2)), -1])\n    return y\n");
        var model = TorchScriptToOnnx.Convert(archive, new ConversionOptions
        {
            Inputs = [new ConversionInput("input", TensorElementType.Float32, [Dimension.Dynamic("batch"), Dimension.Fixed(4), Dimension.Fixed(6)])],
        });
        // The batch is copied (0), 4·2 is folded: no Shape/Gather/Mul nodes.
        Assert.Equal(["Reshape", "Identity"], model.Graph.Node.Select(n => n.OpType));
        var shape = model.Graph.Initializer.Single(i => i.Name == model.Graph.Node[0].Input[1]);
        Assert.Equal([0L, 8L, -1L], System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(shape.RawData.Span).ToArray());
        Assert.Equal("batch", model.Graph.Output[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(8, model.Graph.Output[0].Type.TensorType.Shape.Dim[1].DimValue);
    }

    /// <summary>The printer writes `name : Type = value` where TorchScript refines a type (torchvision's detection code).</summary>
    [Fact]
    public void Annotated_assignment_only_types_the_name()
    {
        var archive = WithCode("    y : Optional[Tensor] = torch.relu(x)\n    z : int\n    return unchecked_cast(Tensor, y)\n");
        var model = TorchScriptToOnnx.Convert(archive, Options());
        Assert.Equal(["Relu", "Identity"], model.Graph.Node.Select(n => n.OpType));
    }

    [Fact]
    public void List_of_tensors_argument_says_to_deploy_a_wrapper()
    {
        var archive = new TorchScriptArchive
        {
            Path = "detector.pt",
            RootFolder = "detector",
            Root = new ScriptObject { TypeName = "__torch__.Net", Attributes = new Dictionary<string, object?> { ["training"] = false } },
            Constants = [],
            CodeFiles = new Dictionary<string, string>
            {
                ["__torch__.py"] = "class Net(Module):\n  training : bool\n  def forward(self: __torch__.Net,\n    images: List[Tensor]) -> Tensor:\n" +
                    "    return images[0]\n",
            },
        };
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptToOnnx.Convert(archive, Options()));
        Assert.Equal(DiagnosticCodes.UnsupportedTorchScript, e.Diagnostic.Code);
        Assert.Contains("'images' is List[Tensor]", e.Message);
        Assert.Contains("wrapper module whose forward takes batched tensors", e.Message);
        Assert.DoesNotContain("export.arguments", e.Message);
    }

    /// <summary>NumToTensor keeps sizes as numbers; a list of them stacked is still a tensor (torchvision's resize code).</summary>
    [Fact]
    public void Stacked_sizes_are_a_tensor()
    {
        var archive = WithCode("    n = ops.prim.NumToTensor(torch.size(x, 1))\n    s = torch.stack([n, n])\n" +
            "    return torch.add(x, torch.to(torch.sum(s), 6))\n");
        var model = TorchScriptToOnnx.Convert(archive, Options());
        var path = Path.Combine(Path.GetTempPath(), $"mb-stack-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
        try
        {
            using var runner = new ModelBuild.Execution.ModelRunner(path, new SourceLocation(path));
            var y = runner.Run(new Dictionary<string, ModelBuild.Data.NdArray>
            {
                ["input"] = ModelBuild.Data.NdArray.Of(new float[8], 2, 4),
            }).Values.Single();
            Assert.All(y.ToDoubles(), v => Assert.Equal(8.0, v));
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// Writes into computed tensors are taken only where the converter knows what they reach: a box of step-1 slices.
    /// A whole activation may alias another (a reshape, a chunk) and a strided box cannot be placed: both are refused.
    /// </summary>
    [Theory]
    [InlineData("    y = torch.relu(x)\n    _0 = torch.fill_(y, 0.)\n    return y\n", "only slices and selects of one can be written")]
    [InlineData("    y = torch.relu(x)\n    _0 = torch.zero_(torch.slice(y, 1, 0, 4, 2))\n    return y\n", "position is not known")]
    public void Writes_the_converter_cannot_place_are_refused(string body, string expected)
    {
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptToOnnx.Convert(WithCode(body), Options()));
        Assert.Equal(DiagnosticCodes.UnsupportedTorchScript, e.Diagnostic.Code);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Opset_outside_range_is_refused()
    {
        var e = Assert.Throws<ModelBuildException>(() => TorchScriptToOnnx.Convert(WithCode("    return x\n"), Options(opset: 11)));
        Assert.Equal(DiagnosticCodes.UnsupportedModelSource, e.Diagnostic.Code);
    }

    [Fact]
    public void Pipeline_converts_a_torchscript_source_and_checks_its_interface()
    {
        var loc = new SourceLocation("deploy.yaml", 3, 5);
        var spec = new ModelSpec
        {
            Name = new("cnn", loc),
            Source = new ModelSource { Kind = ModelSourceKind.TorchScript, Path = ConverterParityTests.Asset("cnn.pt"), Location = loc },
            Inputs = [new TensorSpec { Name = new("image", loc), Shape = [Dimension.Dynamic("batch"), Dimension.Fixed(3), Dimension.Fixed(16), Dimension.Fixed(16)], Location = loc }],
            Outputs = [new OutputSpec { Name = new("logits", loc), Location = loc }],
            Export = new ExportSpec { OnnxOpset = 15 },
            Location = loc,
        };
        var dir = Path.Combine(Path.GetTempPath(), "mb-conv-pipeline-" + Guid.NewGuid().ToString("N"));
        try
        {
            var source = SourceModel.FromTorchScript(spec, TorchScriptReader.Read(spec.Source.Path!, loc), dir);
            Assert.True(File.Exists(source.OnnxPath));
            Assert.Equal("image", Assert.Single(source.Interface.Inputs).Name);
            Assert.Equal("logits", Assert.Single(source.Interface.Outputs).Name);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Pipeline_load_reads_converts_and_reports_interface_mismatch()
    {
        var loc = new SourceLocation("deploy.yaml", 3, 5);
        var spec = new ModelSpec
        {
            Name = new("mlp", loc),
            Source = new ModelSource { Kind = ModelSourceKind.TorchScript, Path = ConverterParityTests.Asset("mlp.pt"), Location = loc },
            Inputs = [new TensorSpec { Name = new("x", loc), Shape = [Dimension.Dynamic("batch"), Dimension.Fixed(20)], Location = loc }],
            Location = loc,
        };
        var source = SourceModel.Load(spec);
        Assert.Equal("output0", Assert.Single(source.Interface.Outputs).Name);

        // A wrong feature size fails in conversion (Gemm shapes) or ONNX Runtime, never silently.
        var bad = new ModelSpec
        {
            Name = spec.Name, Source = spec.Source, Location = loc,
            Inputs = [new TensorSpec { Name = new("x", loc), Shape = [Dimension.Dynamic("batch"), Dimension.Fixed(20)], Location = loc }],
            Outputs = [new OutputSpec { Name = new("probs", loc), Location = loc }, new OutputSpec { Name = new("extra", loc), Location = loc }],
        };
        var e = Assert.Throws<ModelBuildException>(() => SourceModel.Load(bad));
        Assert.Equal(loc, e.Diagnostic.Location);
    }
}
