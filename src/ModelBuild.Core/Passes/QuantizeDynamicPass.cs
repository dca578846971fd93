using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Onnx;
using ModelBuild.Passes.Quantization;
using ModelBuild.Runtime;
using Onnx;

namespace ModelBuild.Passes;

/// <summary>
/// Dynamic int8 of MatMul/Gemm weights (see <see cref="DynamicQuantizer"/>); needs no calibration data.
/// Accuracy-aware: each quantized node's own error is measured on <paramref name="judge"/> (or the accuracy target's
/// evaluate data) with a shadow model, then the worst nodes are kept in float one at a time until the drop
/// (top-1 with labels, else 1 − cosine of the first output) is within the target.
/// </summary>
public sealed class QuantizeDynamicPass(DynamicQuantConfig config, SourceLocation location, AccuracyTarget? accuracy = null, EvaluationDataset? judge = null) : IModelPass
{
    public string Name => "quantize:dynamic";
    public bool IsLossless => false;

    public void Run(PassContext context)
    {
        var pre = QuantPreprocessor.Run(context.InputPath, Path.GetDirectoryName(context.OutputPath)!, location);
        var quantizer = new DynamicQuantizer(config);
        var candidates = quantizer.Candidates(new GraphEditor(pre));
        if (candidates.Count == 0)
            context.Outcome.Notes.Add("no MatMul/Gemm with constant weights to quantize dynamically; the model is unchanged apart from pre-processing");
        var quantized = quantizer.Quantize(pre);
        if (accuracy is not null && candidates.Count > 0)
        {
            var data = judge ?? (accuracy.Evaluate is { } e ? EvaluationDataset.Load(e, ModelInterfaceReader.Read(pre, location).Inputs)
                : throw new ModelBuildException(DiagnosticCodes.MissingKey, "accuracy-aware dynamic quantization needs evaluate data", location));
            var batches = CalibrationData.Batches(data, pre, 8, location).ToList();
            var errors = OwnErrors(pre, quantizer, candidates, batches.Take(2).ToList());
            context.Outcome.LayerErrors.AddRange(errors);
            var reference = RunAll(pre, batches);
            var excluded = new HashSet<string>(config.ExcludeNodes, StringComparer.Ordinal);
            for (var round = 0; round <= accuracy.MaxExcluded; round++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var drop = Drop(reference, RunAll(quantized, batches), data.Labels);
                context.Outcome.Notes.Add($"accuracy-aware round {round}: drop {drop:0.####} with {excluded.Count - config.ExcludeNodes.Count} node(s) kept in float");
                if (drop <= accuracy.MaxDrop || round == accuracy.MaxExcluded) break;
                var worst = errors.Where(x => !excluded.Contains(x.Node)).OrderByDescending(x => x.RelativeError).FirstOrDefault();
                if (worst is null) break;
                excluded.Add(worst.Node);
                context.Outcome.Notes.Add($"kept '{worst.Node}' ({worst.OpType}) in float: its own relative error {worst.RelativeError:0.####}");
                quantized = new DynamicQuantizer(config with { ExcludeNodes = excluded }).Quantize(pre);
            }
        }
        File.WriteAllBytes(context.OutputPath, OnnxModelFile.Serialize(quantized));
    }

    /// <summary>Each candidate's own error: its float output against its quantized shadow fed the same float input.</summary>
    internal static List<LayerError> OwnErrors(ModelProto pre, DynamicQuantizer quantizer, IReadOnlyList<NodeProto> nodes,
        IReadOnlyList<IReadOnlyDictionary<string, NdArray>> batches, SourceLocation? location = null)
    {
        var shadow = quantizer.Quantize(pre, shadow: true);
        var tensors = nodes.SelectMany(n => new[] { n.Output[0], DynamicQuantizer.ShadowName(n.Output[0]) }).ToList();
        var sums = nodes.ToDictionary(n => n.Output[0], _ => (Dot: 0.0, X: 0.0, Y: 0.0, Diff: 0.0), StringComparer.Ordinal);
        using (var probe = new TensorProbe(shadow, tensors, location ?? new SourceLocation("quantize")))
            foreach (var batch in batches)
            {
                var values = probe.Run(batch);
                foreach (var n in nodes)
                {
                    if (!values.TryGetValue(n.Output[0], out var a) || !values.TryGetValue(DynamicQuantizer.ShadowName(n.Output[0]), out var b)) continue;
                    if (a.Data is not float[] x || b.Data is not float[] y || x.Length != y.Length) continue;
                    var s = sums[n.Output[0]];
                    for (var i = 0; i < x.Length; i++)
                    {
                        s.Dot += (double)x[i] * y[i]; s.X += (double)x[i] * x[i]; s.Y += (double)y[i] * y[i];
                        var d = (double)x[i] - y[i]; s.Diff += d * d;
                    }
                    sums[n.Output[0]] = s;
                }
            }
        return nodes.Select(n =>
        {
            var s = sums[n.Output[0]];
            var rel = Math.Sqrt(s.Diff / Math.Max(s.X, 1e-30));
            return new LayerError(n.Name, n.OpType, n.Output[0], s.Dot / Math.Sqrt(Math.Max(s.X * s.Y, 1e-30)), rel, rel);
        }).ToList();
    }

    private static double Drop(NdArray reference, NdArray quantized, NdArray? labels)
    {
        if (labels is not null)
        {
            labels = labels.Slice(0, reference.Shape[0]);
            return Metrics.Top1Accuracy(reference, labels) - Metrics.Top1Accuracy(quantized, labels);
        }
        return 1 - Metrics.CosineSimilarity(reference, quantized);
    }

    private NdArray RunAll(ModelProto model, IReadOnlyList<IReadOnlyDictionary<string, NdArray>> batches)
    {
        var path = Path.Combine(Path.GetTempPath(), $"modelbuild-eval-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
            using var runner = new ModelRunner(path, location);
            return NdArrayConcat.AlongFirstAxis(batches.Select(b => runner.Run(b)[runner.OutputNames[0]]).ToList());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
