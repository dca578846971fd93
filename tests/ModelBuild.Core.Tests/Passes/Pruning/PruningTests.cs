using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Passes.Pruning;
using Onnx;
using Xunit.Abstractions;

namespace ModelBuild.Core.Tests.Passes.Pruning;

/// <summary>Structured and unstructured pruning on the real Fashion CNN and on hand-built graphs, run by ONNX Runtime.</summary>
public sealed class PruningTests(ITestOutputHelper output)
{
    private static readonly Lazy<IReadOnlyDictionary<string, NdArray>> Sample = new(() =>
        new Dictionary<string, NdArray> { ["input"] = NpzReader.ReadAll(PassTestKit.FashionTest)["input"].Slice(0, 64) });

    private static PruneOutcome Prune(string input, string outPath, PruneConfig config, PruneGoal? goal = null)
    {
        var context = PassTestKit.Context(input, outPath);
        new PrunePass(config, PassTestKit.Where, goal).Run(context);
        return context.Outcome.Pruning!;
    }

    private static Dictionary<string, long[]> WeightShapes(string path)
    {
        var model = OnnxModelFile.Load(path);
        var g = new GraphEditor(model);
        return model.Graph.Node.Where(n => n.OpType is "Conv" or "Gemm").ToDictionary(n => n.Name, n => g.Initializers[n.Input[1]].Dims.ToArray());
    }

    [Fact]
    public void Structured_removes_channels_and_rewires_the_readers()
    {
        using var dir = new TempDir();
        var outcome = Prune(PassTestKit.Fashion, dir.File("p.onnx"), new PruneConfig(PruneMethod.L1Structured, [0.3], RoundTo: 1));

        // round(0.3·16)=5, round(0.3·32)=10, round(0.3·64)=19 removed; the logits Gemm feeds the graph output and keeps 10.
        Assert.Equal([(16, 11), (32, 22), (64, 45), (10, 10)], outcome.Channels.Select(c => (c.Channels, c.Kept)));
        var shapes = WeightShapes(dir.File("p.onnx")).Values.ToList();
        Assert.Equal([11L, 1, 3, 3], shapes[0]);
        Assert.Equal([22L, 11, 3, 3], shapes[1]);
        Assert.Equal([45L, 22 * 49], shapes[2]); // Flatten: each channel owns 7·7 features
        Assert.Equal([10L, 45], shapes[3]);
        var logits = PassTestKit.Run(dir.File("p.onnx"), Sample.Value)["logits"];
        Assert.Equal([64L, 10], logits.Shape);
        var ratio = (double)new FileInfo(dir.File("p.onnx")).Length / new FileInfo(PassTestKit.Fashion).Length;
        output.WriteLine($"size ratio {ratio:0.000}, top1 {PassTestKit.FashionTop1(dir.File("p.onnx")):0.000}");
        Assert.True(ratio < 0.6, $"size ratio {ratio}");
    }

    [Fact]
    public void Removing_zero_importance_channels_leaves_the_outputs_unchanged()
    {
        using var dir = new TempDir();
        // Zero whole channels (weights and bias): exactly the ones 30 % structured pruning must pick.
        var model = OnnxModelFile.Load(PassTestKit.Fashion);
        var g = new GraphEditor(model);
        var rng = new Random(3);
        foreach (var (node, count) in model.Graph.Node.Where(n => n.OpType is "Conv" or "Gemm").Take(3).Zip(new[] { 5, 10, 19 }))
        {
            var w = g.Initializers[node.Input[1]];
            var b = g.Initializers[node.Input[2]];
            var (wv, bv) = (TensorData.ToFloats(w), TensorData.ToFloats(b));
            var per = wv.Length / bv.Length;
            foreach (var c in Enumerable.Range(0, bv.Length).OrderBy(_ => rng.Next()).Take(count))
            {
                Array.Clear(wv, c * per, per);
                bv[c] = 0;
            }
            Replace(model, w, wv);
            Replace(model, b, bv);
        }
        var zeroed = PassTestKit.Save(model, dir.Path, "zeroed.onnx");
        Prune(zeroed, dir.File("p.onnx"), new PruneConfig(PruneMethod.L1Structured, [0.3], RoundTo: 1));

        var before = PassTestKit.Run(zeroed, Sample.Value)["logits"].As<float>();
        var after = PassTestKit.Run(dir.File("p.onnx"), Sample.Value)["logits"].As<float>();
        Assert.Equal(before.Length, after.Length);
        var maxAbs = before.Zip(after).Max(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"max abs difference {maxAbs}");
        Assert.True(maxAbs <= 1e-5, $"max abs difference {maxAbs}");
    }

    private static void Replace(ModelProto model, TensorProto t, float[] values)
    {
        var fresh = TensorData.FromFloats(t.Name, t.Dims, values);
        model.Graph.Initializer[model.Graph.Initializer.IndexOf(t)] = fresh;
    }

    /// <summary>x → A(8)→BN→Relu ⊕ B(8) → r; Concat(r, C(r)(4)) → D(6) → GAP → Flatten → Gemm(3) → y.</summary>
    private static ModelProto ResidualGraph()
    {
        var m = PassTestKit.NewModel();
        var gr = m.Graph;
        gr.Input.Add(PassTestKit.Value("x", TensorData.Float, -1, 3, 8, 8));
        gr.Output.Add(PassTestKit.Value("y", TensorData.Float, -1, 3));
        void Conv(string name, string x, string y, int cout, int cin, int seed)
        {
            gr.Initializer.Add(TensorData.FromFloats(name + "_w", [cout, cin, 3, 3], PassTestKit.Random(cout * cin * 9, seed, 0.3f)));
            gr.Initializer.Add(TensorData.FromFloats(name + "_b", [cout], PassTestKit.Random(cout, seed + 100, 0.1f)));
            var n = PassTestKit.Node("Conv", [x, name + "_w", name + "_b"], [y], name);
            n.Attribute.Add(new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } });
            gr.Node.Add(n);
        }
        Conv("A", "x", "a0", 8, 3, 1);
        gr.Initializer.Add(TensorData.FromFloats("bn_s", [8], PassTestKit.Random(8, 5).Select(v => 1 + v * 0.2f).ToArray()));
        gr.Initializer.Add(TensorData.FromFloats("bn_b", [8], PassTestKit.Random(8, 6, 0.1f)));
        gr.Initializer.Add(TensorData.FromFloats("bn_m", [8], PassTestKit.Random(8, 7, 0.1f)));
        gr.Initializer.Add(TensorData.FromFloats("bn_v", [8], PassTestKit.Random(8, 8).Select(v => 1 + Math.Abs(v)).ToArray()));
        gr.Node.Add(PassTestKit.Node("BatchNormalization", ["a0", "bn_s", "bn_b", "bn_m", "bn_v"], ["a1"], "bn"));
        gr.Node.Add(PassTestKit.Node("Relu", ["a1"], ["a"], "relu"));
        Conv("B", "x", "b", 8, 3, 2);
        gr.Node.Add(PassTestKit.Node("Add", ["a", "b"], ["r"], "add"));
        Conv("C", "r", "c", 4, 8, 3);
        var cat = PassTestKit.Node("Concat", ["r", "c"], ["rc"], "cat");
        cat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        gr.Node.Add(cat);
        Conv("D", "rc", "d", 6, 12, 4);
        gr.Node.Add(PassTestKit.Node("GlobalAveragePool", ["d"], ["p"], "gap"));
        gr.Node.Add(PassTestKit.Node("Flatten", ["p"], ["f"], "flat"));
        gr.Initializer.Add(TensorData.FromFloats("fc_w", [3, 6], PassTestKit.Random(18, 9)));
        gr.Initializer.Add(TensorData.FromFloats("fc_b", [3], PassTestKit.Random(3, 10)));
        var gemm = PassTestKit.Node("Gemm", ["f", "fc_w", "fc_b"], ["y"], "fc");
        gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        gr.Node.Add(gemm);
        return m;
    }

    [Fact]
    public void Residual_adds_share_one_selection_and_concats_stack_groups()
    {
        using var dir = new TempDir();
        var input = PassTestKit.Save(ResidualGraph(), dir.Path, "res.onnx");
        var outcome = Prune(input, dir.File("p.onnx"), new PruneConfig(PruneMethod.L1Structured, [0.5], RoundTo: 1));

        var kept = outcome.Channels.ToDictionary(c => c.Node, c => c.Kept);
        Assert.Equal(4, kept["A"]);
        Assert.Equal(4, kept["B"]); // joined with A by the Add
        Assert.Equal(2, kept["C"]);
        Assert.Equal(3, kept["D"]);
        Assert.Equal(3, kept["fc"]);
        var model = OnnxModelFile.Load(dir.File("p.onnx"));
        var g = new GraphEditor(model);
        Assert.Equal([4L], g.Initializers["bn_s"].Dims);
        Assert.Equal([3L, 6, 3, 3], g.Initializers["D_w"].Dims); // 4 residual + 2 concatenated channels
        Assert.Equal([3L, 3], g.Initializers["fc_w"].Dims);
        var x = NdArray.Of(PassTestKit.Random(2 * 3 * 64, 11), 2, 3, 8, 8);
        Assert.Equal([2L, 3], PassTestKit.Run(dir.File("p.onnx"), new Dictionary<string, NdArray> { ["x"] = x })["y"].Shape);
    }

    [Fact]
    public void A_graph_the_rewrite_cannot_follow_is_refused()
    {
        using var dir = new TempDir();
        var m = PassTestKit.NewModel();
        m.Graph.Input.Add(PassTestKit.Value("x", TensorData.Float, -1, 3, 4, 4));
        m.Graph.Output.Add(PassTestKit.Value("y", TensorData.Float, -1, 4, 4, 8));
        m.Graph.Initializer.Add(TensorData.FromFloats("w", [8, 3, 1, 1], PassTestKit.Random(24, 1)));
        m.Graph.Node.Add(PassTestKit.Node("Conv", ["x", "w"], ["c"], "conv"));
        var t = PassTestKit.Node("Transpose", ["c"], ["y"], "perm");
        t.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 0, 2, 3, 1 } });
        m.Graph.Node.Add(t);
        var input = PassTestKit.Save(m, dir.Path, "t.onnx");

        var e = Assert.Throws<ModelBuildException>(() => Prune(input, dir.File("p.onnx"), new PruneConfig(PruneMethod.L1Structured, [0.5], RoundTo: 1)));
        Assert.Equal(DiagnosticCodes.PassFailed, e.Diagnostic.Code);
        Assert.Contains("read by Transpose 'perm'", e.Message);
        Assert.False(File.Exists(dir.File("p.onnx")));
    }

    [Theory]
    [InlineData(PruneMethod.L1Unstructured)]
    [InlineData(PruneMethod.RandomUnstructured)]
    public void Unstructured_reaches_the_exact_sparsity_in_every_layer(PruneMethod method)
    {
        using var dir = new TempDir();
        var outcome = Prune(PassTestKit.Fashion, dir.File("p.onnx"), new PruneConfig(method, [0.37], RoundTo: 1));
        Assert.Equal(4, outcome.Sparsity.Count);
        var g = new GraphEditor(OnnxModelFile.Load(dir.File("p.onnx")));
        foreach (var layer in outcome.Sparsity)
        {
            var zeros = TensorData.ToFloats(g.Initializers[layer.Tensor]).Count(v => v == 0);
            Assert.Equal((long)Math.Round(0.37 * layer.Count, MidpointRounding.ToEven), zeros);
            Assert.Equal(zeros, layer.Zeros);
        }
    }

    [Fact]
    public void Global_unstructured_reaches_the_exact_sparsity_over_all_layers_and_drops_the_smallest()
    {
        using var dir = new TempDir();
        var outcome = Prune(PassTestKit.Fashion, dir.File("p.onnx"), new PruneConfig(PruneMethod.GlobalUnstructured, [0.5], RoundTo: 1));
        var total = outcome.Sparsity.Sum(l => l.Count);
        Assert.Equal((long)Math.Round(0.5 * total), outcome.Sparsity.Sum(l => l.Zeros));
        // Layers differ: the big fc1 weight loses more than the small first conv.
        Assert.NotEqual(outcome.Sparsity[0].Sparsity, outcome.Sparsity[2].Sparsity, 3);
        var top1 = PassTestKit.FashionTop1(dir.File("p.onnx"));
        output.WriteLine(string.Join(", ", outcome.Sparsity.Select(l => $"{l.Node} {l.Sparsity:0.000}")) + $"; top1 {top1:0.000}");
        Assert.True(top1 > 0.85, $"top1 {top1}");
    }

    [Fact]
    public void The_schedule_stops_before_the_accuracy_goal_breaks_and_keeps_the_last_good_step()
    {
        using var dir = new TempDir();
        var goal = new PruneGoal(new EvaluateSpec { Data = PassTestKit.FashionTest, Metric = MetricKind.Top1, Samples = 500, Location = PassTestKit.Where }, MaxDrop: 0.04);
        var outcome = Prune(PassTestKit.Fashion, dir.File("p.onnx"), new PruneConfig(PruneMethod.L1Structured, [0.02, 0.05, 0.5, 0.9], RoundTo: 1), goal);

        foreach (var s in outcome.Steps) output.WriteLine($"amount {s.Amount}: size {s.SizeBytes} p50 {s.P50Ms} ms top1 {s.Score:0.000} drop {s.Drop:0.000} kept {s.Kept}");
        var failed = outcome.Steps.Single(s => !s.Kept);
        Assert.True(failed.Drop > 0.04);
        Assert.Equal(failed, outcome.Steps[^1]); // nothing tried after the failure
        var last = outcome.Steps.Last(s => s.Kept);
        Assert.Equal(last.Amount, outcome.Amount);
        Assert.True(last.Amount > 0 && last.Drop <= 0.04);
        Assert.Equal(last.SizeBytes, new FileInfo(dir.File("p.onnx")).Length);
        Assert.True(outcome.Steps.Zip(outcome.Steps.Skip(1)).All(p => p.Second.SizeBytes < p.First.SizeBytes), "each step is smaller");
    }
}
