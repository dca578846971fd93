using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Execution;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Passes.Quantization;
using Xunit.Abstractions;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// Dynamic int8 of a real transformer (all-MiniLM-L6-v2 from NuGet, <see cref="PublishedModels"/>) with the defaults:
/// its attention blocks are fused and quantized as QAttention, it stays within issue 16's cosine target (0.99) of fp32
/// on 128-token sentences — 0.9935 on these rows, 0.9964 on the bench's English sentences, since each FFN projection's
/// one or two outlier channels are multiplied in float (0.9833 and 0.9891 before) —, and it runs faster than fp32 on
/// the machine that builds it.
/// </summary>
public sealed class TransformerFusionTests(ITestOutputHelper output)
{
    private static readonly SourceLocation Where = new("deploy.yaml", 1, 1);

    [Fact]
    public void MiniLM_dynamic_int8_is_fused_into_QAttention_close_to_fp32_and_faster()
    {
        var model = PublishedModels.Fetch("minilm");
        var dir = Directory.CreateTempSubdirectory("modelbuild-fusion-").FullName;
        try
        {
            var int8 = Path.Combine(dir, "int8.onnx");
            var context = new PassContext(model, int8, "minilm", "int8", CancellationToken.None);
            new QuantizeDynamicPass(new DynamicQuantConfig(), Where).Run(context);
            foreach (var note in context.Outcome.Notes) output.WriteLine(note);

            var ops = OnnxModelFile.Load(int8, Where).Graph.Node.GroupBy(n => (n.Domain, n.OpType)).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(6, ops.GetValueOrDefault(("com.microsoft", "QAttention")));
            Assert.False(ops.ContainsKey(("com.microsoft", "Attention")), "an attention block stayed float");

            var inputs = Sentences(rows: 4, tokens: 128);
            using var fp32 = new ModelRunner(model, Where);
            using var quantized = new ModelRunner(int8, Where);
            var cosine = Cosine(fp32.Run(inputs)["last_hidden_state"], quantized.Run(inputs)["last_hidden_state"]);
            output.WriteLine($"cosine vs fp32 {cosine:0.0000}");
            Assert.True(cosine >= 0.99, $"cosine {cosine:0.0000} against fp32");
            Assert.Contains(context.Outcome.Notes, n => n.StartsWith("kept 1 of 1536 channel(s)", StringComparison.Ordinal));

            // Alternating medians, one sentence per run as the build measures latency, judged by the median of five
            // rounds: a single round swings with a busy neighbour (CI once measured 0.35, 0.41 and 0.54 in one run).
            // 0.8 leaves room for a busy 2-core machine (medians 0.41–0.60 measured there).
            var one = inputs.ToDictionary(p => p.Key, p => Row(p.Value, 0));
            var bench = new LatencyBenchmark(warmupRuns: 3, minRuns: 10, maxRuns: 60, minSeconds: 0.3, maxSeconds: 2);
            var ratios = Enumerable.Range(0, 5).Select(_ =>
                bench.Measure(quantized, one, 1).P50Ms / bench.Measure(fp32, one, 1).P50Ms).Order().ToList();
            var median = ratios[ratios.Count / 2];
            output.WriteLine($"p50 ratios int8/fp32: {string.Join(", ", ratios.Select(r => r.ToString("0.00")))}");
            Assert.True(median <= 0.8, $"int8 p50 {median:0.00}× fp32");

            // The int8 bound (bench --int8-bound) reads MiniLM's weight products from ONNX Runtime's trace — all 36
            // projections and the pooler, at three 128-row shapes and one 1-row one — and lies below what the defaults
            // reach (a variant clearly faster than its bound would refute it; bounds 0.38–0.43 measured against
            // medians 0.41–0.62). The bound is timed once on a machine that may be busy, hence the 0.8.
            var bound = Int8LatencyBound.Measure(model, one, Where);
            output.WriteLine($"int8 bound {bound.Ratio:0.00}× (weight GEMMs {bound.GemmShare:P0}); " +
                string.Join(", ", bound.Kernels.Select(k => $"{k.Shape} {k.Speedup:0.0}× {k.Int8Kernel}")));
            Assert.True(bound.Holds);
            Assert.Equal(new[] { new GemmShape(1, 384, 384), new GemmShape(128, 384, 384), new GemmShape(128, 384, 1536), new GemmShape(128, 1536, 384) },
                bound.Kernels.Select(k => k.Shape).OrderBy(k => k.M).ThenBy(k => k.K).ThenBy(k => k.N));
            Assert.InRange(bound.GemmShare, 0.6, 0.95);
            Assert.True(bound.Ratio < 1 && median >= 0.8 * bound.Ratio,
                $"int8 p50 {median:0.00}× fp32 against a bound of {bound.Ratio:0.00}×");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Rows as a BERT tokenizer writes them for single sentences: [CLS] (101), word pieces from the uncased vocabulary's
    /// word range (ids 1996–29611: no [unused], special or single-character rows), [SEP] (102), then padding (id 0,
    /// mask 0) on every other row's last quarter; token types 0.
    /// </summary>
    private static Dictionary<string, NdArray> Sentences(int rows, int tokens)
    {
        var rng = new Random(16);
        var ids = new long[rows * tokens];
        var mask = new long[rows * tokens];
        for (var r = 0; r < rows; r++)
        {
            var length = r % 2 == 1 ? tokens - tokens / 4 : tokens;
            for (var t = 0; t < length; t++)
            {
                ids[r * tokens + t] = t == 0 ? 101 : t == length - 1 ? 102 : rng.Next(1996, 29612);
                mask[r * tokens + t] = 1;
            }
        }
        return new Dictionary<string, NdArray>
        {
            ["input_ids"] = NdArray.Of(ids, rows, tokens),
            ["attention_mask"] = NdArray.Of(mask, rows, tokens),
            ["token_type_ids"] = NdArray.Of(new long[rows * tokens], rows, tokens),
        };
    }

    private static NdArray Row(NdArray a, int row)
    {
        var width = (int)(a.Shape.Skip(1).Aggregate(1L, (x, y) => x * y));
        var data = Array.CreateInstance(a.Data.GetType().GetElementType()!, width);
        Array.Copy(a.Data, row * width, data, 0, width);
        return new NdArray(a.ElementType, [1, .. a.Shape.Skip(1)], data);
    }

    private static double Cosine(NdArray a, NdArray b)
    {
        var (x, y) = ((float[])a.Data, (float[])b.Data);
        double dot = 0, xx = 0, yy = 0;
        for (var i = 0; i < x.Length; i++) { dot += (double)x[i] * y[i]; xx += (double)x[i] * x[i]; yy += (double)y[i] * y[i]; }
        return dot / Math.Sqrt(xx * yy);
    }
}
