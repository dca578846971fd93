using Google.Protobuf;
using ModelBuild.Core.Tests.Pipeline;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Core.Tests.Onnx;

public sealed class OnnxModelValidationTests
{
    private static readonly string FashionPath = Path.Combine(PipelineWorkspace.RepoRoot, "testassets", "SampleApp", "models", "fashion.onnx");
    private static readonly SourceLocation Here = new("deploy.yaml", 3, 5);

    [Fact]
    public void Reads_the_real_model_interface()
    {
        var model = OnnxModelFile.Load(FashionPath, Here);
        OnnxModelValidator.Validate(model, FashionPath, Here);
        var modelInterface = ModelInterfaceReader.Read(model, Here);

        var input = Assert.Single(modelInterface.Inputs);
        Assert.Equal("input: Float32[batch,1,28,28]", input.ToString());
        Assert.Equal("logits: Float32[batch,10]", Assert.Single(modelInterface.Outputs).ToString());
    }

    [Fact]
    public void Every_truncation_of_a_real_model_is_a_clear_error()
    {
        var bytes = File.ReadAllBytes(FashionPath);
        // Every prefix length up to 4 KB, then a stride through the weights.
        var lengths = Enumerable.Range(1, 4096).Concat(Enumerable.Range(1, 200).Select(i => (int)((long)bytes.Length * i / 201)));
        foreach (var length in lengths)
        {
            var e = Assert.Throws<ModelBuildException>(() =>
            {
                var model = OnnxModelFile.Parse(bytes[..length], "m.onnx", Here);
                OnnxModelValidator.Validate(model, "m.onnx", Here);
            });
            Assert.True(e.Diagnostic.Code is DiagnosticCodes.ModelUnreadable or DiagnosticCodes.ModelInvalid, $"{length}: {e.Diagnostic}");
            Assert.Equal(Here, e.Diagnostic.Location);
        }
    }

    [Fact]
    public void Random_bytes_are_not_a_model()
    {
        var random = new Random(7);
        for (var i = 0; i < 200; i++)
        {
            var bytes = new byte[random.Next(1, 2000)];
            random.NextBytes(bytes);
            var e = Assert.Throws<ModelBuildException>(() => OnnxModelValidator.Validate(OnnxModelFile.Parse(bytes, "r.onnx", Here), "r.onnx", Here));
            Assert.StartsWith("MB2", e.Diagnostic.Code);
        }
    }

    [Fact]
    public void A_node_reading_an_undefined_tensor_is_named()
    {
        var model = OnnxModelFile.Load(FashionPath, Here);
        model.Graph.Node[3].Input[0] = "nowhere";

        var e = Assert.Throws<ModelBuildException>(() => OnnxModelValidator.Validate(model, "m.onnx", Here));

        Assert.Equal(DiagnosticCodes.ModelInvalid, e.Diagnostic.Code);
        Assert.Contains("'nowhere'", e.Diagnostic.Message);
        Assert.Contains(model.Graph.Node[3].OpType, e.Diagnostic.Message);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(99)]
    public void Opsets_outside_the_supported_range_are_refused(long opset)
    {
        var model = OnnxModelFile.Load(FashionPath, Here);
        model.OpsetImport.Single(o => o.Domain == "").Version = opset;

        var e = Assert.Throws<ModelBuildException>(() => OnnxModelValidator.Validate(model, "m.onnx", Here));

        Assert.Contains($"opset {opset}", e.Diagnostic.Message);
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("/etc/passwd")]
    public void External_data_outside_the_model_folder_is_refused(string location)
    {
        var model = OnnxModelFile.Load(FashionPath, Here);
        var weight = model.Graph.Initializer[0];
        weight.RawData = ByteString.Empty;
        weight.DataLocation = TensorProto.Types.DataLocation.External;
        weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });

        var e = Assert.Throws<ModelBuildException>(() => OnnxModelValidator.Validate(model, FashionPath, Here));

        Assert.Equal(DiagnosticCodes.ModelInvalid, e.Diagnostic.Code);
        Assert.Contains(weight.Name, e.Diagnostic.Message);
    }

    [Fact]
    public void Summary_counts_ops_and_parameters()
    {
        var summary = ModelSummary.Of(FashionPath);

        Assert.Equal(2, summary.OpCounts["Conv"]);
        Assert.Equal(2, summary.OpCounts["Gemm"]);
        Assert.Equal(17, summary.Opsets["ai.onnx"]);
        // conv1 16·1·3·3+16, conv2 32·16·3·3+32, fc1 1568·64+64, fc2 64·10+10 (BatchNorm folded into the convs).
        Assert.Equal(160 + 4640 + 100416 + 650, summary.ParameterCount);
    }
}
