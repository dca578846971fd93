using ModelBuild.Diagnostics;
using ModelBuild.Manifest;

namespace ModelBuild.Core.Tests.Manifest;

/// <summary>The quantization/fp16 keys added with the quantization passes.</summary>
public sealed class QuantizeKeysTests
{
    private const string Head = """
        schema: 1
        models:
          - name: m
            source: m.onnx
            variants:
        """;

    [Fact]
    public void New_quantize_and_fp16_keys_bind()
    {
        using var ws = new ManifestWorkspace("m.onnx", "c.npy");
        var v = ws.Parse(Head + """

                  - name: q
                    quantize:
                      mode: static
                      format: qoperator
                      symmetric: true
                      reduce_range: true
                      accuracy_aware: true
                      calibration: { data: c.npy }
                  - name: h
                    fp16: { block_ops: [Resize, TopK] }
            """)!.Models[0].Variants;
        var q = v[0].Quantize!;
        Assert.Equal(QuantizeFormat.QOperator, q.Format);
        Assert.True(q.Symmetric);
        Assert.True(q.ReduceRange);
        Assert.True(q.AccuracyAware);
        Assert.Equal(["Resize", "TopK"], v[1].Fp16!.BlockOps);
    }

    [Fact]
    public void Defaults_are_qdq_asymmetric_full_range_and_the_default_block_list()
    {
        using var ws = new ManifestWorkspace("m.onnx");
        var v = ws.Parse(Head + """

                  - name: q
                    quantize: { mode: dynamic }
                  - name: h
                    fp16: true
            """)!.Models[0].Variants;
        Assert.Equal(QuantizeFormat.Qdq, v[0].Quantize!.Format);
        Assert.False(v[0].Quantize!.Symmetric || v[0].Quantize!.ReduceRange || v[0].Quantize!.AccuracyAware);
        Assert.Null(v[1].Fp16!.BlockOps);
    }

    [Fact]
    public void Format_with_dynamic_is_refused()
    {
        using var ws = new ManifestWorkspace("m.onnx");
        ws.ExpectSingle(Head + """

                  - name: q
                    quantize: { mode: dynamic, format: qdq }
            """, DiagnosticCodes.InvalidValue, 7, 36);
    }
}
