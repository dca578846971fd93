using ModelBuild.Onnx;
using ModelBuild.Passes.Quantization;
using static ModelBuild.Core.Tests.Passes.PassTestKit;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>How calibration samples are batched for a model with a dynamic batch axis.</summary>
public sealed class CalibrationDataTests
{
    [Theory]
    [InlineData(8, new[] { 8 })]
    [InlineData(40, new[] { 32, 8 })]
    [InlineData(64, new[] { 32, 32 })]
    public void Every_sample_is_used_the_last_batch_smaller(int samples, int[] batches)
    {
        // Fewer samples than a batch once failed with MB2011 ("takes batches of 32"), and 40 used only 32.
        var model = OnnxModelFile.Load(Fashion);
        var data = CalibrationData.Load(FashionCalibration, samples, model, Where);
        Assert.Equal(samples, data.Count);
        var sizes = CalibrationData.Batches(data, model, 32, Where).Select(b => (int)b["input"].Shape[0]).ToArray();
        Assert.Equal(batches, sizes);
    }
}
