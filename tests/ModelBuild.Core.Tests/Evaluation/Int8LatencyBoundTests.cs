using ModelBuild.Data;
using ModelBuild.Evaluation;
using ModelBuild.Onnx;
using Onnx;
using ModelBuild.Core.Tests.Passes;
using static ModelBuild.Core.Tests.Passes.PassTestKit;

namespace ModelBuild.Core.Tests.Evaluation;

/// <summary>
/// The int8 latency bound on a transformer-shaped feed-forward block run by ONNX Runtime: which nodes it charges at int8
/// speed is read from ONNX Runtime's own trace, so these pin that reading (weights pre-packed and left out of the
/// trace, a product of two activations and convolutions not covered) as well as the arithmetic.
/// </summary>
public sealed class Int8LatencyBoundTests
{
    private const int Tokens = 128, Hidden = 256, Inner = 1024;

    /// <summary>
    /// x[1,128,256] → MatMul(W1) → Relu → MatMul(W2) → Add x → (· itselfᵀ: activation × activation) and a Gemm with a bias
    /// on the first token: three weight products and one product of two activations.
    /// </summary>
    private static string FeedForward(TempDir dir)
    {
        var model = NewModel(17);
        var g = model.Graph;
        g.Input.Add(Value("x", TensorData.Float, 1, Tokens, Hidden));
        g.Output.Add(Value("scores", TensorData.Float, 1, Tokens, Tokens));
        g.Output.Add(Value("pooled", TensorData.Float, 1, 16));
        g.Initializer.Add(TensorData.FromFloats("w1", [Hidden, Inner], Random(Hidden * Inner, 1, 0.05f)));
        g.Initializer.Add(TensorData.FromFloats("w2", [Inner, Hidden], Random(Inner * Hidden, 2, 0.05f)));
        g.Initializer.Add(TensorData.FromFloats("wp", [16, Hidden], Random(16 * Hidden, 3, 0.05f)));
        g.Initializer.Add(TensorData.FromFloats("bp", [16], Random(16, 4, 0.05f)));
        g.Initializer.Add(TensorData.FromInt64s("first", [1], [0]));
        g.Node.Add(Node("MatMul", ["x", "w1"], ["h"], "up"));
        g.Node.Add(Node("Relu", ["h"], ["r"], "relu"));
        g.Node.Add(Node("MatMul", ["r", "w2"], ["d"], "down"));
        g.Node.Add(Node("Add", ["d", "x"], ["y"], "residual"));
        var transpose = Node("Transpose", ["y"], ["yt"], "transpose");
        transpose.Attribute.Add(new AttributeProto { Name = "perm", Ints = { 0L, 2L, 1L }, Type = AttributeProto.Types.AttributeType.Ints });
        g.Node.Add(transpose);
        g.Node.Add(Node("MatMul", ["y", "yt"], ["scores"], "scores"));
        var gather = Node("Gather", ["y", "first"], ["token"], "first_token");
        GraphEditor.SetAttr(gather, "axis", 1L);
        g.Node.Add(gather);
        g.Node.Add(Node("Squeeze", ["token", "axes1"], ["token2d"], "squeeze"));
        g.Initializer.Add(TensorData.FromInt64s("axes1", [1], [1]));
        var gemm = Node("Gemm", ["token2d", "wp", "bp"], ["pooled2d"], "pooler");
        GraphEditor.SetAttr(gemm, "transB", 1L);
        g.Node.Add(gemm);
        g.Node.Add(Node("Reshape", ["pooled2d", "pooled_shape"], ["pooled"], "reshape"));
        g.Initializer.Add(TensorData.FromInt64s("pooled_shape", [2], [1, 16]));
        return Save(model, dir.Path, "ffn.onnx");
    }

    private static Dictionary<string, NdArray> Input() =>
        new() { ["x"] = new NdArray(TensorElementType.Float32, [1, Tokens, Hidden], Random(Tokens * Hidden, 5)) };

    [Fact]
    public void Charges_the_weight_products_at_int8_speed_and_nothing_else()
    {
        using var dir = new TempDir();
        var bound = Int8LatencyBound.Measure(FeedForward(dir), Input(), Where);

        // The two projections and the pooler's Gemm (A [1, 256] and its bias listed, the weight pre-packed); not y·yᵀ.
        Assert.Equal(
            new[] { new GemmShape(1, Hidden, 16), new GemmShape(Tokens, Hidden, Inner), new GemmShape(Tokens, Inner, Hidden) },
            bound.Kernels.Select(k => k.Shape).OrderBy(s => s.M).ThenBy(s => s.K));
        Assert.True(bound.Holds);
        Assert.Equal(0, bound.ConvMicroseconds);
        // 2·128·256·1024 multiply-adds are most of this block's time, and ONNX Runtime's int8 GEMM beats its float32 one
        // at these shapes on any x86 CPU with AVX2 (u8s8 kernels) — so the bound lies strictly between 0 and 1.
        Assert.InRange(bound.GemmShare, 0.5, 1.0);
        var big = bound.Kernels.Where(k => k.Shape.M == Tokens).ToList();
        Assert.All(big, k => Assert.True(k.Speedup > 1.2, $"{k.Shape}: int8 {k.Int8Microseconds:0} µs vs float32 {k.Fp32Microseconds:0} µs"));
        Assert.InRange(bound.Ratio, 0.05, 0.95);
        // What is not a weight product keeps its float time; the products shrink but do not vanish.
        var rest = bound.Fp32Microseconds - bound.GemmMicroseconds;
        Assert.InRange(bound.BoundMicroseconds, rest + bound.GemmMicroseconds / 8, rest + bound.GemmMicroseconds / 1.2);
    }

    [Fact]
    public void Bounds_nothing_where_convolutions_do_the_work()
    {
        var input = new Dictionary<string, NdArray> { ["input"] = NpzReader.ReadAll(FashionTest)["input"].Slice(0, 1) };
        var bound = Int8LatencyBound.Measure(Fashion, input, Where);

        Assert.False(bound.Holds);
        Assert.True(bound.ConvShare > Int8LatencyBound.MaxConvShare, $"conv share {bound.ConvShare:0.000}");
    }
}
