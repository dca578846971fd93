using ModelBuild.Data;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Evaluation;

public class MetricsTests
{
    // Row argmaxes: 1, 0, 2, 2. Row 3 has a tie between classes 0 and 1 (0.3 each).
    private static readonly NdArray Scores = NdArray.Of(
        [0.1f, 0.7f, 0.2f,
         0.5f, 0.3f, 0.2f,
         0.2f, 0.2f, 0.6f,
         0.3f, 0.3f, 0.4f], 4, 3);
    private static readonly NdArray Labels = NdArray.Of([1L, 1L, 2L, 0L], 4);

    [Fact]
    public void Top1CountsArgmaxHits() => Assert.Equal(0.5, Metrics.Top1Accuracy(Scores, Labels));

    [Fact]
    public void Top2CountsLabelsInTheTwoBest() => Assert.Equal(1.0, Metrics.TopKAccuracy(Scores, Labels, 2));

    [Fact]
    public void TiesRankByClassIndexSoTheyNeverInflateAccuracy()
    {
        var tied = NdArray.Of([1f, 1f], 1, 2);
        Assert.Equal(1.0, Metrics.Top1Accuracy(tied, NdArray.Of([0L], 1)));
        Assert.Equal(0.0, Metrics.Top1Accuracy(tied, NdArray.Of([1L], 1)));
        // Row 3 above: label 1 ties with class 0 and sits behind class 2 as well, so it is third.
        Assert.Equal(0.0, Metrics.TopKAccuracy(NdArray.Of([0.3f, 0.3f, 0.4f], 1, 3), NdArray.Of([1L], 1), 2));
    }

    [Fact]
    public void NaNScoreForTheLabelIsAMiss()
    {
        Assert.Equal(0.0, Metrics.Top1Accuracy(NdArray.Of([float.NaN, 0f], 1, 2), NdArray.Of([0L], 1)));
    }

    [Fact]
    public void AcceptsInt32LabelsAndKLargerThanClasses()
    {
        var labels = new NdArray(TensorElementType.Int32, [4], new[] { 0, 0, 0, 0 });
        Assert.Equal(0.25, Metrics.Top1Accuracy(Scores, labels));
        Assert.Equal(1.0, Metrics.TopKAccuracy(Scores, labels, 5));
    }

    [Fact]
    public void RejectsBadShapesAndLabels()
    {
        Assert.Throws<ArgumentException>(() => Metrics.Top1Accuracy(NdArray.Of([1f, 2f], 2), NdArray.Of([0L, 0L], 2)));
        Assert.Throws<ArgumentException>(() => Metrics.Top1Accuracy(Scores, NdArray.Of([0L, 0L], 2)));
        Assert.Throws<ArgumentException>(() => Metrics.Top1Accuracy(Scores, NdArray.Of([0L, 0L, 0L, 3L], 4)));
        Assert.Throws<ArgumentException>(() => Metrics.Top1Accuracy(Scores, NdArray.Of([0f, 0f, 0f, 0f], 4)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Metrics.TopKAccuracy(Scores, Labels, 0));
    }

    [Fact]
    public void MaeAndMaxAbsMatchHandComputedValues()
    {
        var a = NdArray.Of([1f, 2f, 3f], 3);
        var b = NdArray.Of([1f, 4f, 0f], 3);
        Assert.Equal(5.0 / 3, Metrics.MeanAbsoluteError(a, b), 12);
        Assert.Equal(3.0, Metrics.MaxAbsDifference(a, b));
        Assert.Equal(0.0, Metrics.MaxAbsDifference(a, a));
    }

    [Fact]
    public void ComparesAcrossElementTypesOfTheSameShape()
    {
        var f = NdArray.Of([1f, 2f], 2);
        var h = new NdArray(TensorElementType.Float16, [2], new[] { (Half)1, (Half)2.5 });
        Assert.Equal(0.5, Metrics.MaxAbsDifference(f, h));
    }

    [Fact]
    public void NaNPropagatesSoThresholdChecksFail()
    {
        var a = NdArray.Of([1f, float.NaN, 0f], 3);
        var b = NdArray.Of([1f, 1f, 9f], 3);
        Assert.True(double.IsNaN(Metrics.MaxAbsDifference(a, b)));
        Assert.True(double.IsNaN(Metrics.MeanAbsoluteError(a, b)));
        Assert.True(double.IsNaN(Metrics.CosineSimilarity(a, b)));
    }

    [Fact]
    public void DifferentShapesThrow()
    {
        var a = NdArray.Of([1f, 2f, 3f, 4f], 2, 2);
        var b = NdArray.Of([1f, 2f, 3f, 4f], 4);
        Assert.Throws<ArgumentException>(() => Metrics.MeanAbsoluteError(a, b));
        Assert.Throws<ArgumentException>(() => Metrics.MaxAbsDifference(a, b));
        Assert.Throws<ArgumentException>(() => Metrics.CosineSimilarity(a, b));
    }

    [Theory]
    [InlineData(new[] { 1f, 0f }, new[] { 0f, 1f }, 0.0)]
    [InlineData(new[] { 1f, 2f, 3f }, new[] { 2f, 4f, 6f }, 1.0)]
    [InlineData(new[] { 1f, 0f }, new[] { -1f, 0f }, -1.0)]
    [InlineData(new[] { 1f, 1f }, new[] { 1f, 0f }, 0.70710678118654752)]
    [InlineData(new[] { 0f, 0f }, new[] { 0f, 0f }, 1.0)]
    [InlineData(new[] { 0f, 0f }, new[] { 0f, 3f }, 0.0)]
    [InlineData(new float[0], new float[0], 1.0)]
    public void CosineMatchesHandComputedValues(float[] x, float[] y, double expected)
    {
        Assert.Equal(expected, Metrics.CosineSimilarity(NdArray.Of(x, x.Length), NdArray.Of(y, y.Length)), 12);
    }
}

public sealed class ScorerTests
{
    [Fact]
    public void A_label_outside_the_classes_is_bad_data_not_a_crash()
    {
        var scores = NdArray.Of([0.1f, 0.9f, 0.8f, 0.2f], 2, 2);
        var e = Assert.Throws<ModelBuild.Diagnostics.ModelBuildException>(() =>
            Scorer.Score(ModelBuild.Manifest.MetricKind.Top1, scores, scores, NdArray.Of([1L, 4539628424389459968L], 2), new("deploy.yaml", 4, 13)));
        Assert.Equal(ModelBuild.Diagnostics.DiagnosticCodes.DataMismatch, e.Diagnostic.Code);
        Assert.Contains("Label 4539628424389459968 at row 1 is outside [0, 2)", e.Message);
    }
}
