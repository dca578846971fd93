using ModelBuild.Core.Tests.Passes;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Core.Tests.Pipeline;

/// <summary>
/// A manifest with no evaluation data: the generated inputs must be ones the model accepts (token ids inside the
/// table they index, inputs[].range honoured), and a source that stays idle on them is called out (MB3010).
/// </summary>
public sealed class GeneratedInputsPipelineTests
{
    private const int Float = (int)TensorProto.Types.DataType.Float;
    private const int Int64 = (int)TensorProto.Types.DataType.Int64;

    /// <summary>ids [batch, 6] → Gather from a [rows, 4] table → output; ONNX Runtime refuses an index ≥ rows.</summary>
    private static string TableModel(string dir, int rows)
    {
        var model = PassTestKit.NewModel();
        var g = model.Graph;
        g.Input.Add(PassTestKit.Value("ids", Int64, -1, 6));
        g.Output.Add(PassTestKit.Value("embedded", Float, -1, 6, 4));
        var table = new TensorProto { Name = "table", DataType = Float };
        table.Dims.AddRange([rows, 4]);
        table.FloatData.AddRange(PassTestKit.Random(rows * 4, 3));
        g.Initializer.Add(table);
        var cast = PassTestKit.Node("Cast", ["ids"], ["ids32"]);
        GraphEditor.SetAttr(cast, "to", (long)TensorProto.Types.DataType.Int32);
        g.Node.Add(cast);
        g.Node.Add(PassTestKit.Node("Gather", ["table", "ids32"], ["embedded"]));
        return PassTestKit.Save(model, dir, "table.onnx");
    }

    [Fact]
    public void Integer_inputs_that_index_a_table_stay_inside_it()
    {
        using var ws = new PipelineWorkspace("");
        TableModel(ws.Root, rows: 2);
        ws.WriteManifest("""
            schema: 1
            models:
              - name: types
                source: table.onnx
            """);
        var report = ws.Build();
        Assert.True(report is not null && !ws.Diagnostics.HasErrors, string.Join("\n", ws.Diagnostics));
        // Both rows were used: the output is not constant, so no MB3010.
        Assert.DoesNotContain(ws.Diagnostics, d => d.Code == DiagnosticCodes.UninformativeReference);
    }

    [Fact]
    public void A_declared_range_replaces_the_derived_one_and_a_constant_output_is_called_out()
    {
        using var ws = new PipelineWorkspace("");
        TableModel(ws.Root, rows: 50);
        ws.WriteManifest("""
            schema: 1
            models:
              - name: types
                source: table.onnx
                inputs:
                  - name: ids
                    shape: [batch, 6]
                    dtype: int64
                    range: [7, 7]
            """);
        var report = ws.Build();
        Assert.True(report is not null && !ws.Diagnostics.HasErrors, string.Join("\n", ws.Diagnostics));
        // Every id is 7, so every output row is the same table row: MB3010 at the inputs, naming the output.
        var warning = Assert.Single(ws.Diagnostics, d => d.Code == DiagnosticCodes.UninformativeReference);
        Assert.Equal(Severity.Warning, warning.Severity);
        Assert.Contains("'embedded'", warning.Message);
        Assert.Equal(ws.Find("- name: ids").Line, warning.Location!.Line);
    }

    [Fact]
    public void An_output_that_is_zero_everywhere_is_called_out()
    {
        using var ws = new PipelineWorkspace("");
        var model = PassTestKit.NewModel();
        var g = model.Graph;
        g.Input.Add(PassTestKit.Value("x", Float, -1, 8));
        g.Output.Add(PassTestKit.Value("score", Float, -1, 8));
        g.Initializer.Add(new TensorProto { Name = "threshold", DataType = Float, FloatData = { 100f } });
        g.Node.Add(PassTestKit.Node("Sub", ["x", "threshold"], ["shifted"]));
        g.Node.Add(PassTestKit.Node("Relu", ["shifted"], ["score"]));
        PassTestKit.Save(model, ws.Root, "idle.onnx");
        ws.WriteManifest("""
            schema: 1
            models:
              - name: idle
                source: idle.onnx
            """);
        Assert.NotNull(ws.Build());
        var warning = Assert.Single(ws.Diagnostics, d => d.Code == DiagnosticCodes.UninformativeReference);
        Assert.Contains("is 0 everywhere", warning.Message);
        Assert.Contains("evaluate.data", warning.Message);
    }
}
