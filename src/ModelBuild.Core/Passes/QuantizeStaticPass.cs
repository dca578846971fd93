using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes.Quantization;
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
/// <param name="calibrationLocation">Where <c>calibration</c> is written: problems with its data are reported there.</param>
public sealed class QuantizeStaticPass(StaticQuantConfig config, string calibrationData, SourceLocation location, AccuracyTarget? accuracy = null,
    SourceLocation? calibrationLocation = null) : IModelPass
{
    /// <summary>
    /// What the accuracy-aware loop keeps in float: layers that compute. A Relu, MaxPool or Reshape only passes its
    /// already-quantized input on; the error measured at its output is its producer's, and keeping it float only
    /// adds a dequantize/quantize pair.
    /// </summary>
    private static readonly HashSet<string> ComputeLayers = new(StringComparer.Ordinal) { "Conv", "Gemm", "MatMul", "Add", "Mul" };

    /// <summary>
    /// The compute layer behind a measured tensor and the pass-through ops between them (Conv → Relu → MaxPool):
    /// walking back through first inputs to the Conv/Gemm/MatMul/Add/Mul that produced the values. Null when there is none.
    /// </summary>
    private static List<NodeProto>? ComputingLayer(GraphEditor graph, string tensor)
    {
        var node = graph.ProducerOf(tensor);
        var chain = new List<NodeProto>();
        while (node is not null && chain.Count < 8)
        {
            chain.Insert(0, node);
            if (ComputeLayers.Contains(node.OpType)) return chain;
            node = graph.ProducerOf(node.Input[0]);
        }
        return null;
    }

    /// <summary>
    /// <paramref name="exclude"/> plus the planned ops that no longer follow a quantized compute layer: a MaxPool,
    /// Flatten or Relu after a float layer would move the QuantizeLinear before it, and ONNX Runtime then runs it on
    /// uint8 in NCHW (measured: the Fashion CNN's first MaxPool 38 µs that way, 4 µs in float). An op stays quantized
    /// while a chain of planned non-compute ops leads to it from a quantized Conv/Gemm/MatMul/Add/Mul.
    /// </summary>
    private HashSet<string> WithIdleNeighbours(ModelProto pre, IReadOnlySet<string> exclude)
    {
        var result = exclude.ToHashSet(StringComparer.Ordinal);
        var g = new GraphEditor(pre.Clone());
        var planned = new QdqQuantizer(config with { ExcludeNodes = result }).PlanNodes(g).Select(p => p.Node).ToHashSet();
        var reached = new HashSet<NodeProto>();
        var queue = new Queue<NodeProto>(planned.Where(n => ComputeLayers.Contains(n.OpType)));
        while (queue.TryDequeue(out var node))
        {
            foreach (var next in node.Output.SelectMany(g.ConsumersOf))
                if (planned.Contains(next) && !ComputeLayers.Contains(next.OpType) && reached.Add(next)) queue.Enqueue(next);
        }
        foreach (var idle in planned.Where(n => !ComputeLayers.Contains(n.OpType) && !reached.Contains(n))) result.Add(idle.Name);
        return result;
    }

    /// <summary>Samples compared layer by layer for the error report.</summary>
    private const int ReportSamples = 32;

    public string Name => $"quantize:static:{config.Method.ToString().ToLowerInvariant()}:{(config.Format == QuantFormat.Qdq ? "qdq" : "qoperator")}";
    public bool IsLossless => false;

    public void Run(PassContext context)
    {
        var pre = QuantPreprocessor.Run(context.InputPath, Path.GetDirectoryName(context.OutputPath)!, location);
        var data = CalibrationData.Load(calibrationData, config.CalibrationSamples, pre, calibrationLocation ?? location);
        var calibrationBatches = CalibrationData.Batches(data, pre, 32, location).ToList();
        using var progress = context.Log.BeginProgress($"calibrate {context.VariantName}", calibrationBatches.Count);
        var batches = new ProgressList<IReadOnlyDictionary<string, NdArray>>(calibrationBatches, progress);
        var reportBatches = CalibrationData.Batches(data, pre, Math.Min(ReportSamples, data.Count), location).Take(1).ToList();

        var excluded = new HashSet<string>(config.ExcludeNodes, StringComparer.Ordinal);
        // Calibrated once per tensor: the rounds that keep nodes in float only drop tensors (or bring back a Relu's input).
        var ranges = new Dictionary<string, TensorRange>(StringComparer.Ordinal);
        var quantized = Build(excluded, out var errors);
        if (accuracy is not null)
        {
            var judge = accuracy.Evaluate is { } e ? EvaluationDataset.Load(e, ModelInterfaceReader.Read(pre, location).Inputs) : data;
            // Static int8 gives each sample the same result whatever its batch, so any batch size scores alike.
            var judgeBatches = AccuracyRounds.EvaluationBatches(judge, pre, 64, location);
            var verdict = AccuracyRounds.RoundJudge(accuracy, AccuracyRounds.RunAll(pre, judgeBatches, location), judge.Labels, location);
            var graph = new GraphEditor(pre); // read only: producers of the measured tensors
            for (var round = 0; round < accuracy.MaxExcluded; round++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var (met, score) = verdict(AccuracyRounds.RunAll(quantized, judgeBatches, location));
                context.Outcome.Notes.Add(
                    $"accuracy-aware round {round}: {score} with {excluded.Count - config.ExcludeNodes.Count} node(s) kept in float");
                if (met)
                {
                    if (accuracy.Goal is { } g) context.Outcome.Notes.Add($"accuracy-aware: goal {g} met after {round + 1} round(s)");
                    break;
                }
                // The worst measured output, as the layer that computes it (a Conv's error is measured after its Relu).
                var worst = errors.Where(e => e.Node.Length > 0)
                    .Select(e => (Error: e, Layer: ComputingLayer(graph, e.Tensor)))
                    .Where(p => p.Layer is not null && !excluded.Contains(p.Layer[0].Name))
                    .OrderByDescending(p => p.Error.Added).FirstOrDefault();
                if (worst.Layer is null) break;
                foreach (var node in worst.Layer) excluded.Add(node.Name);
                var layer = worst.Layer[0].OpType + string.Concat(worst.Layer.Skip(1).Select(n => " + " + n.OpType));
                context.Outcome.Notes.Add(
                    $"kept '{worst.Layer[0].Name}' ({layer}) in float: its output adds relative error {worst.Error.Added:0.####}");
                context.Outcome.KeptFloat.Add(new KeptFloatNode(worst.Layer[0].Name, worst.Layer[0].OpType, KeptFloatNode.Accuracy, null, null,
                    $"its output adds relative error {worst.Error.Added:0.####} ({layer})"));
                quantized = Build(excluded, out errors);
            }
        }
        if (config.LatencyAware)
        {
            var planned = new QdqQuantizer(config with { ExcludeNodes = excluded }).PlanNodes(new GraphEditor(pre.Clone()))
                .Where(p => ComputeLayers.Contains(p.Node.OpType)).Select(p => p.Node.Name).ToHashSet(StringComparer.Ordinal);
            var candidates = LatencyAwareSelection.Candidates(pre, pre.Graph.Node.Where(n => planned.Contains(n.Name)));
            var input = CalibrationData.Batches(data, pre, 1, location).First();
            var selection = new LatencyAwareSelection(location).Select(pre, context.InputPath, quantized, candidates, excluded,
                exclude => Build(WithIdleNeighbours(pre, exclude), out errors), input, context.Cancellation);
            if (LatencyAwareOutcome.Apply(selection, context, "static") is not { } chosen) return;
            quantized = chosen;
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
            var model = quantizer.Quantize(pre, batches, location, context.Cancellation, ranges);
            var planned = quantizer.PlanNodes(new GraphEditor(pre.Clone())).Select(p => p.Node.Name).ToHashSet(StringComparer.Ordinal);
            var nodes = pre.Graph.Node.Where(n => planned.Contains(n.Name) && n.Output.Count > 0).ToList();
            layerErrors = LayerErrorAnalyzer.Compare(pre, model, nodes, reportBatches, location);
            return model;
        }
    }
}

/// <summary>A list that reports how many items were enumerated (calibration batches run), capped at its count per pass.</summary>
internal sealed class ProgressList<T>(IReadOnlyList<T> items, IStepProgress progress) : IReadOnlyList<T>
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
