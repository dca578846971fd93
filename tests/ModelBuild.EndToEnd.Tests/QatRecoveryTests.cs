using System.Text.Json;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using Xunit.Abstractions;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// Quantization-aware training through <c>modelbuild build</c> (what <c>dotnet build</c> runs), issue 16's QAT target:
/// on the depthwise MobileNet-style Fashion network (testassets/QatApp, fp32 top-1 0.885 on the sample's 1000 test
/// images), static int8 calibrated with entropy on 64 images of one class loses 6.5 points; QAT from that same
/// calibration must come back within 0.3 points of fp32 (measured 0.1), as an int8 model ONNX Runtime fuses as fully
/// as the static one — also after a whole epoch from min-max calibration (qat-minmax), whose learned scales grow.
/// </summary>
public sealed class QatRecoveryTests(ITestOutputHelper output)
{
    [Fact]
    public void Qat_from_a_lossy_calibration_recovers_the_accuracy_static_int8_loses()
    {
        var app = Path.Combine(RepoPaths.Root, "testassets", "QatApp");
        var sample = Path.Combine(RepoPaths.Root, "testassets", "SampleApp", "data");
        var calibration = Path.Combine(app, "data", "calib-trousers.npy");
        var dir = Directory.CreateTempSubdirectory("modelbuild-qat-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "deploy.yaml"), $"""
                schema: 1
                models:
                  - name: dwnet
                    source: {Path.Combine(app, "models", "dwnet.pt")}
                    inputs:
                      - {"{"} name: input, shape: [batch, 1, 28, 28], dtype: float32 {"}"}
                    variants:
                      - name: static
                        quantize: {"{"} mode: static, latency_aware: false, calibration: {"{"} data: {calibration}, method: entropy {"}"} {"}"}
                      - name: qat-minmax
                        quantize:
                          mode: qat
                          latency_aware: false
                          calibration: {"{"} data: {calibration} {"}"}
                          finetune: {"{"} data: {Path.Combine(sample, "train.npz")}, learning_rate: 0.0001, distill: 0.7 {"}"}
                      - name: qat
                        quantize:
                          mode: qat
                          latency_aware: false
                          calibration: {"{"} data: {calibration}, method: entropy {"}"}
                          finetune: {"{"} data: {Path.Combine(sample, "train.npz")}, samples: 3000, learning_rate: 0.0001, distill: 0.7 {"}"}
                    evaluate:
                      data: {Path.Combine(sample, "test.npz")}
                      metric: top1
                    checks:
                      accuracy: {"{"} max_drop: 0.003, severity: warning {"}"}

                """);
            var result = ProcessRunner.Run("dotnet", dir, TimeSpan.FromMinutes(10), null, RepoPaths.ToolAssembly, "build", "deploy.yaml", "--out", "out");
            Assert.True(result.ExitCode == 0, result.ToString());

            var artifacts = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "out", "modelbuild-report.json"))).RootElement
                .GetProperty("models")[0].GetProperty("artifacts").EnumerateArray()
                .ToDictionary(a => a.GetProperty("name").GetString()!, a => a.GetProperty("score").GetDouble());
            output.WriteLine(string.Join(", ", artifacts.Select(p => $"{p.Key} top-1 {p.Value:0.000}")));
            Assert.True(artifacts["base"] - artifacts["static"] >= 0.02,
                $"the one-class calibration should cost static int8 at least 2 points (the premise): {artifacts["static"]:0.000} vs {artifacts["base"]:0.000}");
            Assert.True(artifacts["base"] - artifacts["qat"] <= 0.003,
                $"QAT top-1 {artifacts["qat"]:0.000} vs fp32 {artifacts["base"]:0.000}: more than 0.3 points lost");

            // What ONNX Runtime runs of the QAT model: every Conv fused into QLinearConv, as in the static one. (Learned
            // scales that outgrew ReLU6's range once kept the Clip, and 7 of 16 Convs ran float: 4.5× fp32.)
            foreach (var variant in new[] { "qat", "qat-minmax" })
            {
                var optimized = Path.Combine(dir, $"{variant}-ort.onnx");
                new OptimizePass(OptimizationLevel.Extended, new SourceLocation(variant)).Run(new PassContext(
                    Path.Combine(dir, "out", "models", "dwnet", variant, "model.onnx"), optimized, "dwnet", variant, CancellationToken.None));
                var ops = OnnxModelFile.Load(optimized).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
                output.WriteLine($"{variant}: " + string.Join(", ", ops.Select(p => $"{p.Key}×{p.Value}")));
                Assert.Equal(16, ops.GetValueOrDefault("QLinearConv"));
                Assert.False(ops.ContainsKey("FusedConv") || ops.ContainsKey("Conv"), $"a Conv of {variant} runs in float");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
