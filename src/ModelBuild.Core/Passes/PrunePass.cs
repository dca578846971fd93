using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes.Pruning;
using ModelBuild.Execution;
using Onnx;

namespace ModelBuild.Passes;

/// <param name="RoundTo">Structured: kept channel counts rounded to multiples of this (see <see cref="StructuredPruner.Aligned"/>).</param>
public sealed record PruneConfig(PruneMethod Method, IReadOnlyList<double> Amounts, double Norm = 1, FineTuneSettings? FineTune = null,
    int Seed = 20240611, int RoundTo = 16);

/// <summary>
/// Pruning with an optional fine-tune and an accuracy stop. Each amount of the schedule is a total fraction of the
/// input model; steps build on the previous (fine-tuned) step. After each step the model is scored; the first step
/// that breaks the goal ends the schedule and the last good step is written (the first step is written even when it
/// breaks the goal, so the accuracy check then fails the build visibly instead of shipping an unpruned model).
/// </summary>
public sealed class PrunePass(PruneConfig config, SourceLocation location, PruneGoal? goal = null, IFineTuner? tuner = null) : IModelPass
{
    public string Name => $"prune:{MethodName(config.Method)}:"
        + $"{string.Join("+", config.Amounts.Select(a => a.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)))}"
        + (config.FineTune is null ? "" : ":finetune");
    public bool IsLossless => false;

    private bool Structured => config.Method == PruneMethod.L1Structured;

    public static string MethodName(PruneMethod m) => m switch
    {
        PruneMethod.L1Structured => "l1-structured",
        PruneMethod.L1Unstructured => "l1-unstructured",
        PruneMethod.RandomUnstructured => "random-unstructured",
        _ => "global-unstructured",
    };

    public void Run(PassContext context)
    {
        if (config.FineTune is not null && tuner is null)
            throw new ModelBuildException(DiagnosticCodes.TorchRuntimeUnavailable,
                "prune.finetune needs libtorch, which is not available to this run", location);
        var work = Directory.CreateTempSubdirectory("modelbuild-prune-").FullName;
        try
        {
            RunIn(context, work);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private void RunIn(PassContext context, string work)
    {
        var input = OnnxModelFile.Load(context.InputPath, location);
        var g0 = new GraphEditor(input);
        g0.PromoteConstants();
        foreach (var node in input.Graph.Node.Where(n => n.Name.Length == 0)) node.Name = g0.UniqueName(node.OpType);
        g0.TopologicalSort();
        g0.Refresh();
        var original = Structured ? StructuredPruner.ChannelCounts(g0) : new Dictionary<string, int>();

        var outcome = new PruneOutcome { Method = MethodName(config.Method) };
        context.Outcome.Pruning = outcome;
        var evaluator = goal is not null ? new PruneEvaluator(goal, location) : null;
        var latencyInput = LatencyInput(input);
        var inputPath = Save(input, work, "step0.onnx");
        var reference = evaluator?.Score(inputPath);
        outcome.Steps.Add(new PruneStep(0, new FileInfo(inputPath).Length, P50(inputPath, latencyInput), reference, reference is null ? null : 0,
            true, null));

        var current = input;
        ModelProto? accepted = null;
        for (var step = 1; step <= config.Amounts.Count; step++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var amount = config.Amounts[step - 1];
            var next = current.Clone();
            var g = new GraphEditor(next);
            IReadOnlyList<ChannelPruneLayer> channels = [];
            IReadOnlyList<SparsityLayer> sparsity = [];
            if (Structured) channels = StructuredPruner.Prune(g, amount, config.Norm, original, location, config.RoundTo);
            else sparsity = UnstructuredPruner.Prune(g, config.Method, amount, config.Seed, location);
            var path = Save(next, work, $"step{step}.onnx");

            FineTuneResult? tuned = null;
            if (config.FineTune is { } settings)
            {
                var tunedPath = Path.Combine(work, $"step{step}.tuned.onnx");
                // The unpruned input is the teacher: its outputs are what the pruned model should keep producing.
                var run = settings.Distill > 0 ? settings with { Teacher = context.InputPath } : settings;
                tuned = tuner!.FineTune(path, tunedPath, run, keepZeros: !Structured, location, context.Cancellation);
                path = tunedPath;
                next = OnnxModelFile.Load(path, location);
                if (!Structured) sparsity = Recount(next, sparsity);
            }

            var score = evaluator?.Score(path);
            var holds = score is null || goal is not { HasThreshold: true } || goal.Holds(score.Value, reference!.Value, evaluator!.Metric);
            var drop = score is null ? (double?)null
                : Scorer.HigherIsBetter(evaluator!.Metric) ? reference!.Value - score.Value : score.Value - reference!.Value;
            var keep = holds || accepted is null;
            outcome.Steps.Add(new PruneStep(amount, new FileInfo(path).Length, P50(path, latencyInput), score, drop, keep, tuned?.EpochLosses));
            if (!keep)
            {
                context.Outcome.Notes.Add($"prune: amount {amount:0.###} breaks the accuracy goal (drop {drop:0.####}); keeping amount " +
                    $"{outcome.Amount:0.###}");
                break;
            }
            accepted = next;
            current = next;
            outcome.Amount = amount;
            outcome.Channels.Clear(); outcome.Channels.AddRange(channels);
            outcome.Sparsity.Clear(); outcome.Sparsity.AddRange(sparsity);
            if (!holds)
            {
                context.Outcome.Notes.Add($"prune: the first amount {amount:0.###} already breaks the accuracy goal (drop " +
                    $"{drop:0.####}); written anyway so the accuracy check reports it");
                break;
            }
        }
        File.WriteAllBytes(context.OutputPath, OnnxModelFile.Serialize(accepted!));
    }

    /// <summary>Sparsity as it is in the tuned model (the tuner keeps zeros; counted, not assumed).</summary>
    private static IReadOnlyList<SparsityLayer> Recount(ModelProto model, IReadOnlyList<SparsityLayer> before)
    {
        var g = new GraphEditor(model);
        return before.Select(l => g.Initializers.TryGetValue(l.Tensor, out var t)
            ? l with { Zeros = TensorData.ToFloats(t).Count(v => v == 0) }
            : l).ToList();
    }

    private static string Save(ModelProto model, string dir, string name)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
        return path;
    }

    private IReadOnlyDictionary<string, NdArray> LatencyInput(ModelProto model)
    {
        var io = ModelInterfaceReader.Read(model, location);
        return SyntheticInputs.Generate(io.Inputs, BatchedRunner.BatchSizeFor(io, 1), config.Seed);
    }

    /// <summary>A short single-thread p50, enough to show the trend from step to step; the artifact gets the full benchmark.</summary>
    private double P50(string path, IReadOnlyDictionary<string, NdArray> inputs)
    {
        using var runner = new ModelRunner(path, location, intraOpThreads: 1);
        var batch = (int)inputs.Values.First().Shape[0];
        return Math.Round(new LatencyBenchmark(warmupRuns: 3, minRuns: 10, maxRuns: 200, minSeconds: 0.15).Measure(runner, inputs, batch).P50Ms, 4);
    }
}
