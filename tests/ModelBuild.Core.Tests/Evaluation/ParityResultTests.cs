using ModelBuild.Data;
using ModelBuild.Evaluation;

namespace ModelBuild.Core.Tests.Evaluation;

public class ParityResultTests
{
    [Fact]
    public void MatchesHandComputedValues()
    {
        var expected = new NdArray(ModelBuild.Onnx.TensorElementType.Float64, [2, 2], new[] { 1.0, -2.0, 0.0, 4.0 });
        var actual = new NdArray(ModelBuild.Onnx.TensorElementType.Float64, [2, 2], new[] { 1.5, -2.0, 1e-7, 4.0 });

        var r = ParityResult.Compare(expected, actual);

        Assert.Equal(0.5, r.MaxAbs, 15);
        Assert.Equal((0.5 + 1e-7) / 4, r.MeanAbs, 15);
        // 0.5 / |1| beats 1e-7 / max(|0|, 1e-6) = 0.1.
        Assert.Equal(0.5, r.MaxRel, 15);
        Assert.Equal(21.5 / Math.Sqrt(21 * (22.25 + 1e-14)), r.Cosine, 12);
    }

    [Fact]
    public void RelativeErrorUsesTheFloorNearZero()
    {
        var r = ParityResult.Compare(NdArray.Of([0f, 100f], 2), NdArray.Of([1e-6f, 100f], 2));
        Assert.Equal(1.0, r.MaxRel, 3);
    }

    [Fact]
    public void IdenticalOutputsArePerfect() =>
        Assert.Equal(new ParityResult(0, 0, 0, 1) { Magnitude = 3 }, ParityResult.Compare(NdArray.Of([3f, -1f], 2), NdArray.Of([3f, -1f], 2)));

    [Fact]
    public void ShapeMismatchThrows() =>
        Assert.Throws<ArgumentException>(() => ParityResult.Compare(NdArray.Of([1f], 1), NdArray.Of([1f], 1, 1)));
}
