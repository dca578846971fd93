using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Runtime;
using ModelBuild.Targets;

namespace ModelBuild.Serving.Tests;

/// <summary>A deployed model fed byte (uint8) data gets it as uint8: .NET lets byte[] pass as sbyte[], so the element type is matched exactly.</summary>
public sealed class DeployedModelInputTypesTests
{
    [Fact]
    public void Uint8_images_reach_a_uint8_input_as_uint8()
    {
        // Triton's raw-image preprocessing model: uint8 [batch, 2, 2] → float [batch, 1, 2, 2], value / 255.
        var pre = new PreprocessingSpec { InputShape = [2, 2], Location = new Diagnostics.SourceLocation("test") };
        var target = new TensorInfo("x", TensorElementType.Float32, [Dimension.Dynamic("n"), Dimension.Fixed(1), Dimension.Fixed(2), Dimension.Fixed(2)]);
        var path = Path.Combine(Path.GetTempPath(), $"mb-uint8-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, OnnxModelFile.Serialize(PreprocessingModel.Build("p", pre, target, "x")));
        try
        {
            using var model = DeployedModel.Open(path);
            var outputs = model.Run([new ModelTensor(PreprocessingSpec.DefaultInputName, new byte[] { 0, 51, 200, 255 }, [1, 2, 2])]);
            Assert.Equal(new[] { 0f, 0.2f, 200 / 255f, 1f }, outputs[0].As<float>());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
