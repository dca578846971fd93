using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Onnx;
using ModelBuild.Passes.Quantization;
using ModelBuild.Passes.Transformers;
using Onnx;

namespace ModelBuild.Passes;

/// <summary>
/// Dynamic int8 of MatMul/Gemm, Conv and LSTM weights (see <see cref="DynamicQuantizer"/>); needs no calibration data.
/// Accuracy-aware: each quantized node's own error is measured on <paramref name="judge"/> (or the accuracy target's
/// evaluate data) with a shadow model, then the worst nodes are kept in float one at a time until the target holds:
/// from a manifest, checks.accuracy scored with evaluate.metric (<see cref="AccuracyGoal"/>); for the bench, the drop
/// (top-1 with labels, else 1 − cosine of the first output) within MaxDrop.
/// </summary>
public sealed class QuantizeDynamicPass(
    DynamicQuantConfig config, SourceLocation location, AccuracyTarget? accuracy = null, EvaluationDataset? judge = null) : IModelPass
{
    /// <summary>The source model's path: a WordPiece vocab.txt beside it makes the generated probe inputs sentences
    /// (<see cref="WordPieceTokenizer.Beside"/>), as the build's own generated evaluation inputs are.</summary>
    public string? Vocabulary { get; init; }

    private Lazy<WordPieceTokenizer?>? _text;

    private WordPieceTokenizer? Text => (_text ??= new(() => WordPieceTokenizer.Beside(Vocabulary))).Value;

    public string Name => "quantize:dynamic";
    public bool IsLossless => false;

    public void Run(PassContext context)
    {
        // Nothing to quantize is decided on the model as it is: the opset upgrade the quantizers need must not fail a
        // variant that would not change anything (a Conv-free opset-11 model with a Split).
        var raw = new GraphEditor(OnnxModelFile.Load(context.InputPath, location));
        raw.PromoteConstants();
        var quantizer = new DynamicQuantizer(config);
        if (!raw.Graph.Node.Any(n => DynamicOpQuantizerRegistry.For(n) is not null) && quantizer.Embeddings(raw).Count == 0)
        {
            KeepParent(context);
            return;
        }
        var pre = QuantPreprocessor.Run(raw, Path.GetDirectoryName(context.OutputPath)!, location);
        // A transformer is quantized in its fused form: QAttention for each attention block, the other projections as before.
        if (TransformerFusion.Fused(pre, Path.GetDirectoryName(context.OutputPath)!, location) is { } fused)
        {
            pre = fused.Model;
            context.Outcome.Notes.Add($"quantize: transformer blocks fused first ({fused.Fused})");
        }
        var candidates = quantizer.Candidates(new GraphEditor(pre));
        var excluded = new HashSet<string>(config.ExcludeNodes, StringComparer.Ordinal);
        if (config.OutlierChannels && candidates.Count > 0)
        {
            var split = OutlierChannels.Apply(pre, candidates, [SampleBatch(pre, 8, 11)], location);
            context.Outcome.Notes.AddRange(split.Notes);
            if (split.FloatNodes.Count > 0)
            {
                pre = split.Model;
                excluded.UnionWith(split.FloatNodes);
                quantizer = new DynamicQuantizer(config with { ExcludeNodes = excluded });
                candidates = quantizer.Candidates(new GraphEditor(pre));
            }
        }
        context.Outcome.Notes.AddRange(quantizer.Refusals(new GraphEditor(pre)));
        if (candidates.Count == 0 && quantizer.Embeddings(new GraphEditor(pre)).Count == 0)
        {
            KeepParent(context);
            return;
        }
        var quantized = quantizer.Quantize(pre);
        if (accuracy is not null && candidates.Count > 0)
            quantized = KeepWorstInFloat(context, pre, quantizer, candidates, quantized, accuracy, excluded);
        if (config.LatencyAware && candidates.Count > 0)
        {
            var selection = new LatencyAwareSelection(location).Select(pre, context.InputPath, quantized,
                LatencyAwareSelection.Candidates(pre, candidates.Where(c => !excluded.Contains(c.Name))), excluded,
                exclude => new DynamicQuantizer(config with { ExcludeNodes = exclude }).Quantize(pre), SampleBatch(pre, 1, 7), context.Cancellation);
            if (LatencyAwareOutcome.Apply(selection, context, "dynamic") is not { } chosen) return;
            quantized = chosen;
        }
        File.WriteAllBytes(context.OutputPath, OnnxModelFile.Serialize(quantized));
    }

    /// <summary>
    /// A batch of <paramref name="count"/> samples: the judge's first, else generated in the ranges the build generates
    /// them in without data (token ids within the embedding table; sentences where a vocab.txt sits beside the source).
    /// One sample times nodes (latency-aware); eight decide the outlier channels.
    /// </summary>
    private IReadOnlyDictionary<string, NdArray> SampleBatch(ModelProto pre, int count, int seed)
    {
        if (judge is not null) return CalibrationData.Batches(judge, pre, count, location).First();
        var inputs = ModelInterfaceReader.Read(pre, location).Inputs;
        return SyntheticInputs.Generate(inputs, count, seed, EvaluationSet.GeneratedRanges(null, InputValueBounds.IndexLimits(pre)), Text);
    }

    /// <summary>Nothing to quantize (no op of a quantizer's kind, or none with constant float32 weights): the variant is its
    /// parent, with a warning at the variant.</summary>
    private static void KeepParent(PassContext context)
    {
        context.Outcome.Warnings.Add(
            $"quantize: dynamic finds nothing to quantize in this model (no {string.Join(", ", DynamicOpQuantizerRegistry.OpTypes.Order())} " +
            "with constant float32 weights, no embedding table), so the variant is its parent unchanged; remove it, " +
            "quantize a float32 parent, or use quantize: static");
        File.Copy(context.InputPath, context.OutputPath, overwrite: true);
    }

    /// <summary>
    /// The accuracy-aware loop: round 0 judges the plain int8 model; while the goal is not met, the node with the
    /// largest own error is kept in float and the model is quantized again (at most <see cref="AccuracyTarget.MaxExcluded"/> nodes).
    /// </summary>
    /// <param name="excluded">The nodes kept in float: the manifest's, and on return the loop's too.</param>
    private ModelProto KeepWorstInFloat(PassContext context, ModelProto pre, DynamicQuantizer quantizer, IReadOnlyList<NodeProto> candidates,
        ModelProto quantized, AccuracyTarget accuracy, HashSet<string> excluded)
    {
        var data = judge ?? (accuracy.Evaluate is { } e ? EvaluationDataset.Load(e, ModelInterfaceReader.Read(pre, location).Inputs)
            : throw new ModelBuildException(DiagnosticCodes.MissingKey, "accuracy-aware dynamic quantization needs evaluate data", location));
        // The shadow probe holds every candidate's output twice, so it looks at 16 samples at most.
        var probeBatches = CalibrationData.Batches(data, pre, Math.Min(8, data.Count), location).ToList();
        var errors = OwnErrors(pre, quantizer, candidates, probeBatches.Take(2).ToList());
        context.Outcome.LayerErrors.AddRange(errors);
        // Dynamic int8 scales activations per run over the whole input tensor, so the batch a sample shares changes its
        // output: a manifest goal is judged in the batches the build's evaluation will run, so the check sees the same score.
        var judgeBatches = accuracy.Goal is null ? probeBatches : AccuracyRounds.EvaluationBatches(data, pre, accuracy.JudgeBatch, location);
        var reference = AccuracyRounds.RunAll(pre, judgeBatches, location);
        var judgeRound = AccuracyRounds.RoundJudge(accuracy, reference, data.Labels, location);

        var kept = new List<string>();
        var met = false;
        var round = 0;
        for (; round <= accuracy.MaxExcluded; round++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var (isMet, score) = judgeRound(AccuracyRounds.RunAll(quantized, judgeBatches, location));
            context.Outcome.Notes.Add($"accuracy-aware round {round}: {score} with {kept.Count} node(s) kept in float");
            met = isMet;
            if (met || round == accuracy.MaxExcluded) break;
            var worst = errors.Where(x => !excluded.Contains(x.Node)).OrderByDescending(x => x.RelativeError).FirstOrDefault();
            if (worst is null) break;
            excluded.Add(worst.Node);
            kept.Add(worst.Node);
            context.Outcome.Notes.Add($"kept '{worst.Node}' ({worst.OpType}) in float: its own relative error {worst.RelativeError:0.####}");
            context.Outcome.KeptFloat.Add(new KeptFloatNode(worst.Node, worst.OpType, KeptFloatNode.Accuracy, null, null,
                $"its own relative error {worst.RelativeError:0.####}"));
            quantized = new DynamicQuantizer(config with { ExcludeNodes = excluded }).Quantize(pre);
        }
        if (accuracy.Goal is { } goal)
        {
            var nodes = kept.Count == 0 ? "none" : string.Join(", ", kept.Select(n => $"'{n}'"));
            context.Outcome.Notes.Add(met
                ? $"accuracy-aware: goal {goal} met after {round + 1} round(s); kept in float: {nodes}"
                : $"accuracy-aware: goal {goal} not met after {round + 1} round(s) (at most {accuracy.MaxExcluded} nodes are kept in float); " +
                  $"kept in float: {nodes}; checks.accuracy judges the artifact");
        }
        return quantized;
    }

    /// <summary>Each candidate's own error: its float output against its quantized shadow fed the same float input.</summary>
    internal static List<LayerError> OwnErrors(ModelProto pre, DynamicQuantizer quantizer, IReadOnlyList<NodeProto> nodes,
        IReadOnlyList<IReadOnlyDictionary<string, NdArray>> batches, SourceLocation? location = null)
    {
        var shadow = quantizer.Quantize(pre, shadow: true);
        var tensors = nodes.Select(DynamicQuantizer.ProbeOutput).SelectMany(o => new[] { o, DynamicQuantizer.ShadowName(o) }).ToList();
        var sums = nodes.ToDictionary(DynamicQuantizer.ProbeOutput, _ => (Dot: 0.0, X: 0.0, Y: 0.0, Diff: 0.0), StringComparer.Ordinal);
        using (var probe = new TensorProbe(shadow, tensors, location ?? new SourceLocation("quantize")))
            foreach (var batch in batches)
            {
                var values = probe.Run(batch);
                foreach (var n in nodes)
                {
                    var o = DynamicQuantizer.ProbeOutput(n);
                    if (!values.TryGetValue(o, out var a) || !values.TryGetValue(DynamicQuantizer.ShadowName(o), out var b)) continue;
                    if (a.Data is not float[] x || b.Data is not float[] y || x.Length != y.Length) continue;
                    var s = sums[o];
                    for (var i = 0; i < x.Length; i++)
                    {
                        s.Dot += (double)x[i] * y[i]; s.X += (double)x[i] * x[i]; s.Y += (double)y[i] * y[i];
                        var d = (double)x[i] - y[i]; s.Diff += d * d;
                    }
                    sums[o] = s;
                }
            }
        return nodes.Select(n =>
        {
            var s = sums[DynamicQuantizer.ProbeOutput(n)];
            var rel = Math.Sqrt(s.Diff / Math.Max(s.X, 1e-30));
            return new LayerError(n.Name, n.OpType, DynamicQuantizer.ProbeOutput(n), s.Dot / Math.Sqrt(Math.Max(s.X * s.Y, 1e-30)), rel, rel);
        }).ToList();
    }
}
