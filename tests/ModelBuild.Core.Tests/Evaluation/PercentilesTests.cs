using ModelBuild.Evaluation;
using ModelBuild.Data;

namespace ModelBuild.Core.Tests.Evaluation;

public class PercentilesTests
{
    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(50, 2.5)]   // rank 1.5
    [InlineData(95, 3.85)]  // rank 2.85
    [InlineData(99, 3.97)]  // rank 2.97
    [InlineData(100, 4.0)]
    public void InterpolatesBetweenClosestRanks(double p, double expected) =>
        Assert.Equal(expected, Percentiles.Of([4.0, 1.0, 3.0, 2.0], p), 12);

    [Fact]
    public void MatchesNumPysDefault()
    {
        // np.percentile([15, 20, 35, 40, 50], 40) == 29.0
        Assert.Equal(29.0, Percentiles.Of([15.0, 20.0, 35.0, 40.0, 50.0], 40), 12);
    }

    [Fact]
    public void SummaryOfOneHundredValues()
    {
        var values = Enumerable.Range(1, 100).Select(i => (double)i).Reverse().ToList();
        var s = Percentiles.Summarize(values);
        Assert.Equal(50.5, s.P50, 12);
        Assert.Equal(95.05, s.P95, 12);
        Assert.Equal(99.01, s.P99, 12);
    }

    [Fact]
    public void SingleValueIsEveryPercentile() =>
        Assert.Equal(new PercentileSummary(7, 7, 7), Percentiles.Summarize([7.0]));

    [Fact]
    public void RejectsEmptyNaNAndOutOfRange()
    {
        Assert.Throws<ArgumentException>(() => Percentiles.Summarize([]));
        Assert.Throws<ArgumentException>(() => Percentiles.Of([1.0, double.NaN], 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => Percentiles.Of([1.0], 101));
        Assert.Throws<ArgumentOutOfRangeException>(() => Percentiles.Of([1.0], -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Percentiles.Of([1.0], double.NaN));
    }
}
