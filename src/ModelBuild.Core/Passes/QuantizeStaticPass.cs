using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes.Quantization;
using ModelBuild.Runtime;
using Onnx;

namespace ModelBuild.Passes;

/// <summary>Accuracy-aware mode: keep the layers that add the most error in float until the drop is within bounds.</summary>
/// <param name="Evaluate">Labelled data (top-1 drop) or unlabelled (1 − output cosine against the float model); null: the calibration data.</param>
/// <param name="MaxDrop">Largest allowed drop of the score (top-1 as a fraction, or 1 − cosine).</param>
/// <param name="MaxExcluded">Most nodes kept in float before the loop gives up (the accuracy check then judges the artifact).</param>
public sealed record AccuracyTarget(EvaluateSpec? Evaluate, double MaxDrop, int MaxExcluded = 8)
{
    /// <summary>
    /// Dynamic quantization from a manifest: checks.accuracy scored with evaluate.metric, as the accuracy check will
    /// score the artifact. When set it decides when the loop stops and <see cref="MaxDrop"/> is not read.
    /// </summary>
    public AccuracyGoal? Goal { get; init; }

    /// <summary>With <see cref="Goal"/>: the batch size the evaluate data is run in, the build's evaluation batch.</summary>
    public int JudgeBatch { get; init; } = 32;
}

/// <summary>Static int8 with calibration (see <see cref="QdqQuantizer"/>), optionally accuracy-aware.</summary>
public sealed class QuantizeStaticPass(StaticQuantConfig config, string calibrationData, int samples, SourceLocation location, AccuracyTarget? accuracy = null) : IModelPass
{
    /// <summary>Samples compared layer by layer for the error report.</summary>
    private const int ReportSamples = 32;

    public string Name => $"quantize:static:{config.Method.ToString().ToLowerInvariant()}:{(config.Format == QuantFormat.Qdq ? "qdq" : "qoperator")}";
    public bool IsLossless => false;

    public void Run(PassContext context)
    {
        var pre = QuantPreprocessor.Run(context.InputPath, Path.GetDirectoryName(context.OutputPath)!, location);
        var data = CalibrationData.Load(calibrationData, samples, pre, location);
        var calibrationBatches = CalibrationData.Batches(data, pre, 32, location).ToList();
        using var progress = context.Log.BeginProgress($"calibrate {context.VariantName}", calibrationBatches.Count);
        var batches = new ProgressList<IReadOnlyDictionary<string, NdArray>>(calibrationBatches, progress);
        var reportBatches = CalibrationData.Batches(data, pre, Math.Min(ReportSamples, data.Count), location).Take(1).ToList();

        var excluded = new HashSet<string>(config.ExcludeNodes, StringComparer.Ordinal);
        var quantized = Build(excluded, out var errors);
        if (accuracy is not null)
        {
            var judge = accuracy.Evaluate is { } e ? EvaluationDataset.Load(e, ModelInterfaceReader.Read(pre, location).Inputs) : data;
            for (var round = 0; round < accuracy.MaxExcluded; round++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var drop = Drop(pre, quantized, judge);
                context.Outcome.Notes.Add($"accuracy-aware round {round}: drop {drop:0.####} with {excluded.Count - config.ExcludeNodes.Count} node(s) kept in float");
                if (drop <= accuracy.MaxDrop) break;
                var worst = errors.Where(e => !excluded.Contains(e.Node) && e.Node.Length > 0).OrderByDescending(e => e.Added).FirstOrDefault();
                if (worst is null) break;
                excluded.Add(worst.Node);
                context.Outcome.Notes.Add($"kept '{worst.Node}' ({worst.OpType}) in float: it adds relative error {worst.Added:0.####}");
                quantized = Build(excluded, out errors);
            }
        }
        context.Outcome.LayerErrors.AddRange(errors);
        var bytes = OnnxModelFile.Serialize(quantized);
        if (config.Format == QuantFormat.Qdq)
        {
            File.WriteAllBytes(context.OutputPath, bytes);
            return;
        }
        // QOperator: ONNX Runtime's own offline fusions turn DQ→op→Q groups into QLinearConv/QLinearMatMul/… nodes.
        var staged = context.OutputPath + ".qdq.onnx";
        try
        {
            File.WriteAllBytes(staged, bytes);
            new OptimizePass(OptimizationLevel.Extended, location).Run(context with { InputPath = staged });
        }
        finally
        {
            File.Delete(staged);
        }

        ModelProto Build(HashSet<string> exclude, out List<LayerError> layerErrors)
        {
            var quantizer = new QdqQuantizer(config with { ExcludeNodes = exclude });
            var model = quantizer.Quantize(pre, batches, location, context.Cancellation);
            var planned = quantizer.PlanNodes(new GraphEditor(pre.Clone())).Select(p => p.Node.Name).ToHashSet(StringComparer.Ordinal);
            var nodes = pre.Graph.Node.Where(n => planned.Contains(n.Name) && n.Output.Count > 0).ToList();
            layerErrors = LayerErrorAnalyzer.Compare(pre, model, nodes, reportBatches, location);
            return model;
        }
    }

    /// <summary>Top-1 drop with labels, else 1 − cosine of the first output.</summary>
    private double Drop(ModelProto reference, ModelProto quantized, EvaluationDataset data)
    {
        var a = RunAll(reference, data);
        var b = RunAll(quantized, data);
        // Whole batches only: the labels of a left-over partial batch are dropped with it.
        if (data.Labels is { } labels)
        {
            labels = labels.Slice(0, a.Shape[0]);
            return Metrics.Top1Accuracy(a, labels) - Metrics.Top1Accuracy(b, labels);
        }
        return 1 - Metrics.CosineSimilarity(a, b);
    }

    private NdArray RunAll(ModelProto model, EvaluationDataset data)
    {
        var path = Path.Combine(Path.GetTempPath(), $"modelbuild-eval-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
            using var runner = new ModelRunner(path, location);
            var outputs = CalibrationData.Batches(data, model, 64, location).Select(b => runner.Run(b)[runner.OutputNames[0]]).ToList();
            return NdArrayConcat.AlongFirstAxis(outputs);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

/// <summary>A list that reports how many items were enumerated (calibration batches run), capped at its count per pass.</summary>
internal sealed class ProgressList<T>(IReadOnlyList<T> items, Pipeline.IStepProgress progress) : IReadOnlyList<T>
{
    public T this[int index] => items[index];
    public int Count => items.Count;

    public IEnumerator<T> GetEnumerator()
    {
        for (var i = 0; i < items.Count; i++)
        {
            yield return items[i];
            progress.Report(i + 1);
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
