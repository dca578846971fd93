using ModelBuild.Passes.Quantization;
using Onnx;
using static ModelBuild.Core.Tests.Passes.PassTestKit;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>Where int8 regions may start and end, and which ones are proposed for timing.</summary>
public sealed class Int8RegionsTests
{
    /// <summary>
    /// input → c0 → c1 → (c2 → c3) + c1 residual → add → c4 → output, plus a Shape → Reshape branch reading c4's output
    /// and a weight initializer: nodes 0 c0, 1 c1, 2 c2, 3 c3, 4 add, 5 shape, 6 c4, 7 reshape.
    /// </summary>
    private static GraphProto ResidualChain()
    {
        var model = NewModel();
        var g = model.Graph;
        g.Input.Add(Value("x", 1, 1, 8));
        g.Initializer.Add(new TensorProto { Name = "w", DataType = 1, Dims = { 8, 8 }, FloatData = { new float[64] } });
        g.Node.Add(Node("MatMul", ["x", "w"], ["a"], "c0"));
        g.Node.Add(Node("MatMul", ["a", "w"], ["b"], "c1"));
        g.Node.Add(Node("MatMul", ["b", "w"], ["c"], "c2"));
        g.Node.Add(Node("MatMul", ["c", "w"], ["d"], "c3"));
        g.Node.Add(Node("Add", ["b", "d"], ["e"], "add"));
        g.Node.Add(Node("Shape", ["e"], ["s"], "shape"));
        g.Node.Add(Node("MatMul", ["e", "w"], ["f"], "c4"));
        g.Node.Add(Node("Reshape", ["f", "s"], ["y"], "reshape"));
        g.Output.Add(Value("y", 1, 1, 8));
        return g;
    }

    [Fact]
    public void Cuts_are_where_one_activation_crosses_and_never_inside_a_residual_span_nor_for_shape_arithmetic()
    {
        // Boundary p is before node p. Inside the residual (before c2, c3, add) both b and the branch cross; the shape
        // tensor s crosses before c4 and reshape but is no activation.
        Assert.Equal([0, 1, 2, 5, 6, 7, 8], Int8Regions.Cuts(ResidualChain()));
    }

    [Fact]
    public void The_proposals_are_the_best_stretch_the_best_ones_to_the_end_and_the_best_from_the_start()
    {
        int[] cuts = [0, 2, 4, 6, 8];
        // Segments [0,2) −5, [2,4) +3, [4,6) −1, [6,8) +4.
        (int, double)[] gains = [(0, -5), (1, 0), (2, 3), (4, -1), (6, 4)];
        var regions = Int8Regions.Propose(cuts, gains);

        // Best [2,8) +6 (also the best to the end); then to the end [6,8) +4 and [4,8) +3; from the start only the whole
        // graph gains (+1), and that is the all-int8 model.
        Assert.Equal([(2, 8, 6.0, "best stretch"), (6, 8, 4.0, "stretch to the end"), (4, 8, 3.0, "stretch to the end")],
            regions.Select(r => (r.Start, r.End, r.Gain, r.Kind)));

        // Segments +1, −5, +3, +4: the best stretch is the last two; from the start, the first segment alone.
        var more = Int8Regions.Propose(cuts, [(0, 1), (2, -5), (4, 3), (6, 4)]);
        Assert.Equal((4, 8, "best stretch"), (more[0].Start, more[0].End, more[0].Kind));
        Assert.Contains(more, r => (r.Start, r.End, r.Kind) == (0, 2, "best stretch from the start"));
        Assert.Equal(more.Count, more.Select(r => (r.Start, r.End)).Distinct().Count());
    }

    [Fact]
    public void Stretches_holding_the_same_candidates_are_proposed_once()
    {
        // Candidates only at 0 (−1) and 6 (+5): [2,8), [4,8) and [6,8) all quantize just node 6, the same model.
        var regions = Int8Regions.Propose([0, 2, 4, 6, 8], [(0, -1), (6, 5)]);
        Assert.Equal((5.0, "best stretch"), (Assert.Single(regions).Gain, regions[0].Kind));
    }

    [Fact]
    public void No_region_is_proposed_when_every_stretch_loses()
    {
        Assert.Empty(Int8Regions.Propose([0, 1, 2], [(0, -1), (1, -2)]));
    }
}
