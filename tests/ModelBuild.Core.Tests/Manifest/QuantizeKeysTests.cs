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
        using var ws = new ManifestWorkspace("m.onnx", "c.npy", "t.npz");
        var v = ws.Parse(Head + """

                  - name: q
                    quantize:
                      mode: static
                      format: qoperator
                      symmetric: true
                      reduce_range: true
                      accuracy_aware: true
                      latency_aware: false
                      per_channel: false
                      calibration: { data: c.npy }
                  - name: h
                    fp16: { block_ops: [Resize, TopK] }
                evaluate: { data: t.npz }
                checks:
                  accuracy: { max_drop: 0.01 }
            """)!.Models[0].Variants;
        var q = v[0].Quantize!;
        Assert.Equal(QuantizeFormat.QOperator, q.Format);
        Assert.True(q.Symmetric);
        Assert.True(q.ReduceRange);
        Assert.True(q.AccuracyAware);
        Assert.False(q.LatencyAware);
        Assert.False(q.PerChannel);
        Assert.Equal(["Resize", "TopK"], v[1].Fp16!.BlockOps);
    }

    [Fact]
    public void Defaults_are_qdq_asymmetric_per_channel_latency_aware_and_the_default_block_list()
    {
        using var ws = new ManifestWorkspace("m.onnx");
        var v = ws.Parse(Head + """

                  - name: q
                    quantize: { mode: dynamic }
                  - name: h
                    fp16: true
            """)!.Models[0].Variants;
        // Keys left out stay unset; the passes' options records hold the one default (issue 18).
        Assert.Null(v[0].Quantize!.Format);
        Assert.Null(v[0].Quantize!.Symmetric);
        Assert.Null(v[0].Quantize!.ReduceRange);
        Assert.False(v[0].Quantize!.AccuracyAware);
        Assert.Null(v[0].Quantize!.LatencyAware);
        Assert.Null(v[0].Quantize!.PerChannel);
        Assert.Null(v[1].Fp16!.BlockOps);
        var defaults = new ModelBuild.Passes.Quantization.StaticQuantConfig();
        var dynamicDefaults = new ModelBuild.Passes.Quantization.DynamicQuantConfig();
        Assert.Equal(ModelBuild.Passes.Quantization.QuantFormat.Qdq, defaults.Format);
        Assert.False(defaults.SymmetricActivations);
        Assert.True(defaults.PerChannel && dynamicDefaults.PerChannel);
        Assert.True(defaults.LatencyAware && dynamicDefaults.LatencyAware);
        // 7-bit weights only where 8-bit products saturate: x86 without VNNI.
        var needsReduced = System.Runtime.Intrinsics.X86.X86Base.IsSupported && !ModelBuild.Passes.Quantization.Int8Cpu.HasVnni;
        Assert.Equal(needsReduced, defaults.ReduceRange);
        Assert.Equal(needsReduced, dynamicDefaults.ReduceRange);
        // The CPU flags Linux reports agree with what .NET detects.
        if (File.Exists("/proc/cpuinfo") && System.Runtime.Intrinsics.X86.X86Base.IsSupported)
        {
            var flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags", StringComparison.Ordinal)).Split(' ');
            Assert.Equal(flags.Contains("avx512_vnni") || flags.Contains("avx_vnni"), ModelBuild.Passes.Quantization.Int8Cpu.HasVnni);
        }
        Assert.Equal(ModelBuild.Passes.Fp16Config.DefaultBlockedOps.Order(), new ModelBuild.Passes.Fp16Config().BlockedOps.Order());
    }

    [Theory]
    [InlineData("min: 0.99")]
    [InlineData("max_drop: 0.01")]
    [InlineData("max_drop_percent: 1")]
    public void Accuracy_aware_dynamic_binds_with_any_accuracy_threshold(string threshold)
    {
        using var ws = new ManifestWorkspace("m.onnx", "t.npz");
        var model = ws.Parse(Head + $$"""

                  - name: q
                    quantize: { mode: dynamic, per_channel: true, accuracy_aware: true }
                evaluate: { data: t.npz, metric: cosine }
                checks:
                  accuracy: { {{threshold}} }
            """)!.Models[0];
        Assert.Empty(ws.Diagnostics);
        var q = model.Variants[0].Quantize!;
        Assert.Equal(QuantizeMode.Dynamic, q.Mode);
        Assert.True(q.AccuracyAware);
        Assert.Equal((7, 55), (q.AccuracyAwareLocation!.Line, q.AccuracyAwareLocation.Column));
        Assert.Equal(MetricKind.Cosine, model.Evaluate!.Metric);
    }

    [Fact]
    public void Accuracy_aware_dynamic_without_checks_accuracy_is_refused_at_the_key()
    {
        using var ws = new ManifestWorkspace("m.onnx", "t.npz");
        var d = ws.ExpectSingle(Head + """

                  - name: q
                    quantize: { mode: dynamic, accuracy_aware: true }
                evaluate: { data: t.npz, metric: cosine }
            """, DiagnosticCodes.MissingKey, 7, 36);
        Assert.Contains("checks.accuracy", d.Message);
    }

    [Fact]
    public void Accuracy_aware_static_with_evaluate_data_takes_any_accuracy_threshold()
    {
        using var ws = new ManifestWorkspace("m.onnx", "c.npy", "t.npz");
        var v = ws.Parse(Head + """

                  - name: q
                    quantize:
                      mode: static
                      accuracy_aware: true
                      calibration: { data: c.npy }
                evaluate: { data: t.npz }
                checks:
                  accuracy: { min: 0.8 }
            """)!.Models[0].Variants;
        Assert.Empty(ws.Diagnostics);
        Assert.True(v[0].Quantize!.AccuracyAware);
    }

    [Fact]
    public void Accuracy_aware_static_needs_an_accuracy_check()
    {
        using var ws = new ManifestWorkspace("m.onnx", "c.npy", "t.npz");
        var d = ws.ExpectSingle(Head + """

                  - name: q
                    quantize:
                      mode: static
                      accuracy_aware: true
                      calibration: { data: c.npy }
                evaluate: { data: t.npz }
            """, DiagnosticCodes.MissingKey, 9, 11);
        Assert.Contains("checks.accuracy", d.Message);
    }

    [Fact]
    public void Accuracy_aware_false_needs_no_checks()
    {
        using var ws = new ManifestWorkspace("m.onnx");
        var v = ws.Parse(Head + """

                  - name: q
                    quantize: { mode: dynamic, accuracy_aware: false }
            """)!.Models[0].Variants;
        Assert.Empty(ws.Diagnostics);
        Assert.False(v[0].Quantize!.AccuracyAware);
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
