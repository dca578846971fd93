using ModelBuild.Data;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Data;

public class SyntheticInputsTests
{
    private static readonly TensorInfo Image = new("image", TensorElementType.Float32,
        [Dimension.Dynamic("batch"), Dimension.Fixed(3), Dimension.Dynamic("h")]);
    private static readonly TensorInfo Ids = new("ids", TensorElementType.Int64, [Dimension.Fixed(2), Dimension.Fixed(50_000)]);
    private static readonly TensorInfo Mask = new("mask", TensorElementType.Bool, [Dimension.Dynamic("batch"), Dimension.Fixed(1000)]);

    [Fact]
    public void ShapesUseBatchForAxisZeroAndOneForOtherDynamicAxes()
    {
        var inputs = SyntheticInputs.Generate([Image, Ids], batch: 4, seed: 1);
        Assert.Equal([4L, 3L, 1L], inputs["image"].Shape);
        Assert.Equal([2L, 50_000L], inputs["ids"].Shape);
    }

    [Fact]
    public void SameArgumentsGiveSameValuesAndSeedChangesThem()
    {
        var a = SyntheticInputs.Generate([Image, Ids, Mask], 8, 42);
        var b = SyntheticInputs.Generate([Image, Ids, Mask], 8, 42);
        var c = SyntheticInputs.Generate([Image, Ids, Mask], 8, 43);
        foreach (var name in a.Keys)
        {
            Assert.Equal(a[name].Data.Cast<object>(), b[name].Data.Cast<object>());
            Assert.NotEqual(a[name].Data.Cast<object>(), c[name].Data.Cast<object>());
        }
    }

    [Fact]
    public void AnInputsValuesDoNotDependOnTheOtherInputs()
    {
        var alone = SyntheticInputs.Generate([Ids], 1, 5);
        var together = SyntheticInputs.Generate([Image, Ids], 1, 5);
        Assert.Equal(alone["ids"].As<long>(), together["ids"].As<long>());
    }

    [Fact]
    public void IntsAreUniformInZeroToTenAndBoolsAreMixed()
    {
        var inputs = SyntheticInputs.Generate([Ids, Mask], 2, 3);
        var ids = inputs["ids"].As<long>();
        Assert.All(ids, v => Assert.InRange(v, 0, 9));
        var counts = ids.GroupBy(v => v).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(10, counts.Count);
        Assert.All(counts.Values, n => Assert.InRange(n, 9_000, 11_000));
        var trues = inputs["mask"].As<bool>().Count(b => b);
        Assert.InRange(trues, 850, 1150);
    }

    [Fact]
    public void FloatsAreStandardNormal()
    {
        var big = new TensorInfo("x", TensorElementType.Float64, [Dimension.Fixed(200_000)]);
        var x = SyntheticInputs.Generate([big], 1, 9)["x"].As<double>();
        var mean = x.Average();
        var sd = Math.Sqrt(x.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(sd, 0.99, 1.01);
        Assert.InRange(x.Count(v => Math.Abs(v) < 1) / (double)x.Length, 0.677, 0.688); // 68.3% within one sd
    }

    [Fact]
    public void EveryElementTypeIsGenerated()
    {
        var all = Enum.GetValues<TensorElementType>()
            .Select(t => new TensorInfo(t.ToString(), t, [Dimension.Dynamic("batch"), Dimension.Fixed(2)])).ToList();
        var inputs = SyntheticInputs.Generate(all, 3, 0);
        foreach (var t in all)
        {
            Assert.Equal(t.ElementType, inputs[t.Name].ElementType);
            Assert.Equal(6, inputs[t.Name].Length);
        }
    }

    [Fact]
    public void RejectsBatchBelowOne() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticInputs.Generate([Image], 0, 1));
}
