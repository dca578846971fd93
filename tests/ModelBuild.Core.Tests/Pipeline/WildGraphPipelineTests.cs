using ModelBuild.Core.Tests.Passes;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Core.Tests.Pipeline;

/// <summary>
/// Shapes of graph that published ONNX files have and our own exports did not: a recurrent state whose first axis
/// is not the batch, If bodies reading outer-scope weights, nodes out of topological order, opset-11 attributes that
/// became inputs, variants with nothing to do, and a lossy variant that no longer computes the model. Each goes
/// through the real pipeline (ONNX Runtime runs every artifact) from a manifest without evaluation data.
/// </summary>
public sealed class WildGraphPipelineTests
{
    private const int Float = (int)TensorProto.Types.DataType.Float;
    private const int Int64 = (int)TensorProto.Types.DataType.Int64;

    private static PipelineWorkspace Workspace(ModelProto model, string variants, string inputs = "")
    {
        var ws = new PipelineWorkspace("");
        PassTestKit.Save(model, ws.Root, "wild.onnx");
        ws.WriteManifest($"""
            schema: 1
            models:
              - name: wild
                source: wild.onnx
            {inputs}
                variants:
            {variants}
            """);
        return ws;
    }

    private static void AssertBuilt(PipelineWorkspace ws)
    {
        var report = ws.Build();
        Assert.True(report is not null && !ws.Diagnostics.HasErrors, string.Join("\n", ws.Diagnostics));
    }

    /// <summary>y = tanh(x·W + state[0]·U), new_state = [y, y]: the state's batch is its axis 1, and sr is a scalar.</summary>
    private static ModelProto Recurrent()
    {
        var m = PassTestKit.NewModel();
        var g = m.Graph;
        g.Input.Add(PassTestKit.Value("x", Float, -1, 8));
        var state = PassTestKit.Value("state", Float, 2, 1, 4);
        state.Type.TensorType.Shape.Dim[1] = new TensorShapeProto.Types.Dimension { DimParam = "batch" };
        g.Input.Add(state);
        g.Input.Add(PassTestKit.Value("sr", Int64));
        g.Output.Add(PassTestKit.Value("y", Float, -1, 4));
        g.Output.Add(PassTestKit.Value("new_state", Float, 2, -1, 4));
        g.Initializer.Add(TensorData.FromFloats("W", [8, 4], PassTestKit.Random(32, 1)));
        g.Initializer.Add(TensorData.FromFloats("U", [4, 4], PassTestKit.Random(16, 2)));
        g.Initializer.Add(TensorData.FromInt64s("zero", [], [0]));
        g.Node.Add(PassTestKit.Node("MatMul", ["x", "W"], ["xw"]));
        var gather = PassTestKit.Node("Gather", ["state", "zero"], ["h"]);
        g.Node.Add(gather);
        g.Node.Add(PassTestKit.Node("MatMul", ["h", "U"], ["hu"]));
        g.Node.Add(PassTestKit.Node("Add", ["xw", "hu"], ["pre"]));
        g.Node.Add(PassTestKit.Node("Tanh", ["pre"], ["y"]));
        g.Initializer.Add(TensorData.FromInt64s("axis0", [1], [0]));
        g.Node.Add(PassTestKit.Node("Unsqueeze", ["y", "axis0"], ["y1"]));
        var concat = PassTestKit.Node("Concat", ["y1", "y1"], ["new_state"]);
        GraphEditor.SetAttr(concat, "axis", 0L);
        g.Node.Add(concat);
        return m;
    }

    [Fact]
    public void A_state_whose_batch_is_axis_1_and_a_scalar_are_fed_whole()
    {
        using var ws = Workspace(Recurrent(), """
                  - name: half
                    fp16: true
                  - name: int8
                    quantize: { mode: dynamic }
            """);
        AssertBuilt(ws);
        Assert.Contains("state fed whole", File.ReadAllText(ws.Output("modelbuild-report.md")));
    }

    [Fact]
    public void Evaluation_data_holds_the_state_as_one_tensor()
    {
        using var ws = Workspace(Recurrent(), """
                  - name: int8
                    quantize: { mode: dynamic }
            """);
        var rng = new Random(5);
        NpzWriter.Write(Path.Combine(ws.Root, "eval.npz"), new Dictionary<string, NdArray>
        {
            ["x"] = NdArray.Of(Enumerable.Range(0, 10 * 8).Select(_ => (float)rng.NextDouble()).ToArray(), 10, 8),
            ["state"] = NdArray.Of(Enumerable.Range(0, 8).Select(_ => (float)rng.NextDouble()).ToArray(), 2, 1, 4),
            ["sr"] = new NdArray(TensorElementType.Int64, [], new long[] { 16000 }),
        });
        ws.WriteManifest(File.ReadAllText(ws.ManifestPath).Replace("    variants:", "    evaluate:\n      data: eval.npz\n      metric: cosine\n    variants:"));
        AssertBuilt(ws);
    }

    /// <summary>scores = x·prototypesᵀ: both inputs have a dynamic first axis, but only x's is the batch.</summary>
    private static ModelProto Prototypes()
    {
        var m = PassTestKit.NewModel();
        var g = m.Graph;
        g.Input.Add(PassTestKit.Value("x", Float, -1, 8));
        var prototypes = PassTestKit.Value("prototypes", Float, -1, 8);
        prototypes.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "classes" };
        g.Input.Add(prototypes);
        g.Output.Add(PassTestKit.Value("scores", Float, -1, -1));
        var t = PassTestKit.Node("Transpose", ["prototypes"], ["pt"]);
        g.Node.Add(t);
        g.Node.Add(PassTestKit.Node("MatMul", ["x", "pt"], ["scores"]));
        return m;
    }

    [Fact]
    public void Batch_axis_none_feeds_an_input_whole_from_evaluation_data()
    {
        var rng = new Random(9);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        foreach (var declared in new[] { false, true })
        {
            var inputs = declared ? """
                    inputs:
                      - name: x
                        shape: [batch, 8]
                      - name: prototypes
                        shape: [classes, 8]
                        batch_axis: none
                """ : "";
            using var ws = Workspace(Prototypes(), "      - name: optimized\n        optimize: basic", inputs);
            NpzWriter.Write(Path.Combine(ws.Root, "eval.npz"), new Dictionary<string, NdArray>
            {
                ["x"] = NdArray.Of(Values(10 * 8), 10, 8),
                ["prototypes"] = NdArray.Of(Values(3 * 8), 3, 8),
            });
            ws.WriteManifest(File.ReadAllText(ws.ManifestPath).Replace("    variants:", "    evaluate:\n      data: eval.npz\n      metric: cosine\n    variants:"));
            var report = ws.Build();
            if (declared)
            {
                Assert.True(report is not null && !ws.Diagnostics.HasErrors, string.Join("\n", ws.Diagnostics));
            }
            else
            {
                // Without the declaration both first axes look like the batch, and 10 ≠ 3.
                var error = Assert.Single(ws.Diagnostics, d => d.Severity == Severity.Error);
                Assert.Equal(DiagnosticCodes.DataMismatch, error.Code);
                Assert.Contains("3 for input 'prototypes'", error.Message);
            }
        }
    }

    /// <summary>out = If(sum(x) > 0) { then: outside·W } else { outside }: the then-body reads W from the outer scope,
    /// and W is also read by a MatMul outside, which dynamic int8 replaces.</summary>
    private static ModelProto OuterScopeIf(long opset = 17)
    {
        var m = PassTestKit.NewModel(opset);
        var g = m.Graph;
        g.Input.Add(PassTestKit.Value("x", Float, -1, 8));
        g.Output.Add(PassTestKit.Value("out", Float, -1, 8));
        g.Initializer.Add(TensorData.FromFloats("W", [8, 8], PassTestKit.Random(64, 3)));
        // The branch depends on the data (sum of x > 0), so no optimizer can fold the If away.
        g.Initializer.Add(TensorData.FromFloats("zero_f", [], [0f]));
        var sum = PassTestKit.Node("ReduceSum", ["x"], ["sum"]);
        GraphEditor.SetAttr(sum, "keepdims", 0L);
        g.Node.Add(sum);
        g.Node.Add(PassTestKit.Node("Greater", ["sum", "zero_f"], ["flag"]));
        g.Node.Add(PassTestKit.Node("MatMul", ["x", "W"], ["outside"]));
        var thenBody = new GraphProto { Name = "then" };
        thenBody.Node.Add(PassTestKit.Node("MatMul", ["outside", "W"], ["then_out"]));
        thenBody.Output.Add(PassTestKit.Value("then_out", Float, -1, 8));
        var elseBody = new GraphProto { Name = "else" };
        elseBody.Node.Add(PassTestKit.Node("Identity", ["outside"], ["else_out"]));
        elseBody.Output.Add(PassTestKit.Value("else_out", Float, -1, 8));
        var node = PassTestKit.Node("If", ["flag"], ["out"]);
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = thenBody });
        node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = elseBody });
        g.Node.Add(node);
        return m;
    }

    [Fact]
    public void Fp16_and_dynamic_int8_keep_if_bodies_working()
    {
        using var ws = Workspace(OuterScopeIf(), """
                  - name: half
                    fp16: true
                  - name: int8
                    quantize: { mode: dynamic }
            """);
        AssertBuilt(ws);
        // The int8 artifact still holds the float W its If body reads.
        Assert.Contains(OnnxModelFile.Load(ws.Output("models/wild/int8/model.onnx")).Graph.Initializer, t => t.Name == "W");
    }

    [Fact]
    public void Nodes_out_of_topological_order_are_sorted_not_refused()
    {
        var model = OuterScopeIf();
        var nodes = model.Graph.Node.Reverse().ToList();
        model.Graph.Node.Clear();
        model.Graph.Node.AddRange(nodes);
        using var ws = Workspace(model, """
                  - name: optimized
                    optimize: basic
            """);
        AssertBuilt(ws);
    }

    /// <summary>Split of 8 columns into 4 + 4 as opset 11 writes it: the sizes as an attribute (an input from opset 13).</summary>
    private static NodeProto Opset11Split(string input)
    {
        var split = PassTestKit.Node("Split", [input], ["a", "b"]);
        GraphEditor.SetAttr(split, "axis", 1L);
        split.Attribute.Add(new AttributeProto { Name = "split", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 4, 4 } });
        return split;
    }

    [Fact]
    public void An_opset_11_split_is_upgraded_for_quantization()
    {
        var m = PassTestKit.NewModel(opset: 11);
        var g = m.Graph;
        g.Input.Add(PassTestKit.Value("x", Float, -1, 8));
        g.Output.Add(PassTestKit.Value("y", Float, -1, 4));
        g.Initializer.Add(TensorData.FromFloats("W", [8, 8], PassTestKit.Random(64, 4)));
        g.Node.Add(PassTestKit.Node("MatMul", ["x", "W"], ["h"]));
        g.Node.Add(Opset11Split("h"));
        g.Node.Add(PassTestKit.Node("Add", ["a", "b"], ["y"]));
        // latency_aware off: this tests the opset upgrade, which a latency-aware fallback to the float parent would skip.
        using var ws = Workspace(m, """
                  - name: int8
                    quantize: { mode: dynamic, latency_aware: false }
            """);
        AssertBuilt(ws);
        var int8 = OnnxModelFile.Load(ws.Output("models/wild/int8/model.onnx"));
        Assert.Equal(2, OnnxModelFile.Load(ws.Output("models/wild/int8/model.onnx")).Graph.Node.Single(n => n.OpType == "Split").Input.Count);
        Assert.Contains(int8.Graph.Node, n => n.OpType is "MatMulInteger" or "DynamicQuantizeMatMul" or "MatMulIntegerToFloat");
    }

    [Fact]
    public void A_variant_with_nothing_to_do_warns_and_keeps_its_parent()
    {
        var m = PassTestKit.NewModel(opset: 11);
        var g = m.Graph;
        g.Input.Add(PassTestKit.Value("x", Float, -1, 8));
        g.Output.Add(PassTestKit.Value("y", Float, -1, 4));
        g.Node.Add(Opset11Split("x"));
        g.Node.Add(PassTestKit.Node("Mul", ["a", "b"], ["y"]));
        using var ws = Workspace(m, """
                  - name: int8
                    quantize: { mode: dynamic }
            """);
        AssertBuilt(ws);
        var warning = Assert.Single(ws.Diagnostics, d => d.Code == DiagnosticCodes.VariantChangesNothing);
        Assert.Equal(Severity.Warning, warning.Severity);
        Assert.Equal(ws.Find("- name: int8").Line, warning.Location!.Line);
        Assert.Equal(File.ReadAllBytes(ws.Output("models/wild/model.onnx")), File.ReadAllBytes(ws.Output("models/wild/int8/model.onnx")));
    }

    /// <summary>y = x·A − x·B with A − B = 0.5: fp16 clamps both to 65504 and the difference (the model) vanishes.</summary>
    private static ModelProto Cancelling()
    {
        var m = PassTestKit.NewModel();
        var g = m.Graph;
        g.Input.Add(PassTestKit.Value("x", Float, -1, 8));
        g.Output.Add(PassTestKit.Value("y", Float, -1, 8));
        g.Initializer.Add(TensorData.FromFloats("A", [8], Enumerable.Repeat(100000.5f, 8).ToArray()));
        g.Initializer.Add(TensorData.FromFloats("B", [8], Enumerable.Repeat(100000f, 8).ToArray()));
        g.Node.Add(PassTestKit.Node("Mul", ["x", "A"], ["xa"]));
        g.Node.Add(PassTestKit.Node("Mul", ["x", "B"], ["xb"]));
        g.Node.Add(PassTestKit.Node("Sub", ["xa", "xb"], ["y"]));
        return m;
    }

    [Fact]
    public void A_lossy_variant_that_no_longer_computes_the_model_fails_at_its_line()
    {
        using var ws = Workspace(Cancelling(), """
                  - name: half
                    fp16: true
            """);
        Assert.False(ws.Build()!.Passed);
        var error = Assert.Single(ws.Diagnostics, d => d.Severity == Severity.Error);
        Assert.Equal(DiagnosticCodes.SimilarityTooLow, error.Code);
        Assert.Equal(ws.Find("- name: half").Line, error.Location!.Line);
    }

    [Fact]
    public void Severity_warning_on_similarity_only_warns()
    {
        using var ws = Workspace(Cancelling(), """
                  - name: half
                    fp16: true
                checks:
                  similarity: { min_cosine: 0.99, severity: warning }
            """);
        AssertBuilt(ws);
        Assert.Contains(ws.Diagnostics, d => d.Code == DiagnosticCodes.SimilarityTooLow && d.Severity == Severity.Warning);
    }
}
