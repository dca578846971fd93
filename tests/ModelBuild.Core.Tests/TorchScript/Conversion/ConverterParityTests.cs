using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;
using ModelBuild.TorchScript;
using ModelBuild.TorchScript.Conversion;
using Xunit.Abstractions;

namespace ModelBuild.Core.Tests.TorchScript.Conversion;

/// <summary>Each fixture is converted, opened in real ONNX Runtime and compared with PyTorch's own outputs
/// (saved by testassets/training/make_converter_fixtures.py), at batch 3 and batch 1 from one dynamic-batch graph.</summary>
public sealed class ConverterParityTests(ITestOutputHelper output)
{
    public const double Tolerance = 1e-4;

    public static string Asset(string name) => Path.Combine(AppContext.BaseDirectory, "assets", "converter", name);

    public static IEnumerable<object[]> Cases() =>
        from f in new[] { "cnn", "mlp", "resnet", "mobilenet", "flagged", "misc", "norms", "split_ops", "inplace_views", "mask_ops", "lstm", "encoder", "attention" }.Concat(ZooFixtures)
        from opset in new[] { 13, 17 }
        select new object[] { f, opset };

    /// <summary>The small hand-written entries of the architecture zoo (testassets/zoo/make_zoo.py --fixtures): resizing,
    /// padding, pixel shuffles, indexing, sorting, einsum, attention with masks, in-place masks, HF-style text models.</summary>
    public static readonly string[] ZooFixtures = Directory.Exists(Path.Combine(AppContext.BaseDirectory, "assets", "converter", "zoo"))
        ? Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "assets", "converter", "zoo"), "*.pt")
            .Select(p => "zoo/" + Path.GetFileNameWithoutExtension(p)).Order(StringComparer.Ordinal).ToArray()
        : [];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Converted_model_matches_pytorch(string fixture, int opset)
    {
        var reference = NpzReader.ReadAll(Asset(fixture + ".npz"));
        var maxAbs = ConvertAndCompare(fixture, reference, opset, new Dictionary<string, object?>());
        output.WriteLine($"{fixture} opset {opset}: max-abs {maxAbs:E2}");
    }

    /// <summary>GridSample exists from opset 16: converted at 16 and 17, refused below with the opset to set.</summary>
    [Theory]
    [InlineData(16)]
    [InlineData(17)]
    public void Grid_sample_matches_pytorch_from_opset_16(int opset)
    {
        var reference = NpzReader.ReadAll(Asset("grid_sample.npz"));
        var maxAbs = ConvertAndCompare("grid_sample", reference, opset, new Dictionary<string, object?>());
        output.WriteLine($"grid_sample opset {opset}: max-abs {maxAbs:E2}");
    }

    [Fact]
    public void Grid_sample_below_opset_16_names_the_opset_to_set()
    {
        var reference = NpzReader.ReadAll(Asset("grid_sample.npz"));
        var e = Assert.Throws<ModelBuildException>(() => ConvertAndCompare("grid_sample", reference, 13, new Dictionary<string, object?>()));
        Assert.Equal(DiagnosticCodes.UnsupportedTorchScript, e.Diagnostic.Code);
        Assert.Contains("export.onnx.opset: 16", e.Message);
    }

    [Fact]
    public void Flag_argument_selects_the_branch()
    {
        var reference = NpzReader.ReadAll(Asset("flagged_normalize.npz"));
        var maxAbs = ConvertAndCompare("flagged", reference, 17, new Dictionary<string, object?> { ["normalize"] = true });
        output.WriteLine($"flagged normalize=True: max-abs {maxAbs:E2}");
    }

    [Fact]
    public void Wrong_flag_gives_different_outputs()
    {
        // The default branch must not match the normalize=True reference: proves the comparison can fail.
        var reference = NpzReader.ReadAll(Asset("flagged_normalize.npz"));
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ConvertAndCompare("flagged", reference, 17, new Dictionary<string, object?>()));
    }

    [Fact]
    public void Node_names_carry_the_module_path_they_come_from()
    {
        // torchvision's ResNet structure, traced: layer1.0 is a BasicBlock, conv1 its first convolution.
        var path = TorchScriptZooTests.Asset("resnet_tiny.pt");
        var archive = TorchScriptReader.Read(path, new SourceLocation(path));
        var model = TorchScriptToOnnx.Convert(archive, new ConversionOptions
        {
            Inputs = [new ConversionInput("x", TensorElementType.Float32, [Dimension.Dynamic("batch"), Dimension.Fixed(3), Dimension.Fixed(32), Dimension.Fixed(32)])],
            OutputNames = ["output0"],
            Opset = 17,
        });
        var names = model.Graph.Node.Select(n => n.Name).ToList();
        Assert.Contains("conv1/Conv", names);
        Assert.Contains("layer1.0.conv1/Conv", names);
        Assert.Contains("layer4.0.downsample.0/Conv", names);
        Assert.Contains("fc/Gemm", names);
        Assert.Equal(names.Count, names.Distinct().Count());
    }

    public static double ConvertAndCompare(string fixture, IReadOnlyDictionary<string, NdArray> reference, int opset, IReadOnlyDictionary<string, object?> flags)
    {
        var archive = TorchScriptReader.Read(Asset(fixture + ".pt"), new SourceLocation(Asset(fixture + ".pt")));
        var inputNames = reference.Keys.Where(k => !k.StartsWith("output", StringComparison.Ordinal)).ToArray();
        var outputNames = reference.Keys.Where(k => k.StartsWith("output", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        var options = new ConversionOptions
        {
            Inputs = inputNames.Select(n => new ConversionInput(n, reference[n].ElementType,
                reference[n].Shape.Select((d, i) => i == 0 ? Dimension.Dynamic("batch") : Dimension.Fixed(d)).ToArray())).ToArray(),
            OutputNames = outputNames,
            Opset = opset,
            ConstantArguments = flags,
        };
        var model = TorchScriptToOnnx.Convert(archive, options);
        // Each weight ships once: a folded copy (a Linear's weight transposed for a 3-D MatMul) replaces its source.
        var read = model.Graph.Node.SelectMany(n => n.Input.Concat(GraphEditor.Bodies(n).SelectMany(b => b.Node.SelectMany(x => x.Input))))
            .ToHashSet(StringComparer.Ordinal);
        var unread = model.Graph.Initializer.Select(t => t.Name).Where(name => !read.Contains(name)).ToList();
        Assert.True(unread.Count == 0, $"{fixture}: initializers no node reads: {string.Join(", ", unread)}");
        var path = Path.Combine(Path.GetTempPath(), $"mb-conv-{fixture.Replace('/', '-')}-{opset}-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
        try
        {
            OnnxModelValidator.Validate(model, path, new SourceLocation(path));
            using var runner = new ModelRunner(path, new SourceLocation(path));
            var worst = 0.0;
            foreach (var batch in new long[] { reference[inputNames[0]].Shape[0], 1 })
            {
                var inputs = inputNames.ToDictionary(n => n, n => reference[n].Slice(0, batch));
                var results = runner.Run(inputs);
                foreach (var o in outputNames)
                {
                    var expected = reference[o].Slice(0, batch);
                    var actual = results[o];
                    Assert.Equal(expected.Shape, actual.Shape);
                    var e = expected.ToDoubles();
                    var a = actual.ToDoubles();
                    // Scaled by the output's magnitude: logits over a 120-token vocabulary reach tens.
                    var maxAbs = e.Zip(a, (x, y) => Math.Abs(x - y)).DefaultIfEmpty(0).Max() / Math.Max(1, e.Select(Math.Abs).DefaultIfEmpty(0).Max());
                    Assert.True(maxAbs <= Tolerance, $"{fixture} opset {opset} batch {batch} {o}: max-abs {maxAbs:E3} > {Tolerance}");
                    worst = Math.Max(worst, maxAbs);
                }
            }
            return worst;
        }
        finally { File.Delete(path); }
    }
}
