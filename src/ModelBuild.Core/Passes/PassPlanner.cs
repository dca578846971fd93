using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Passes.Pruning;
using ModelBuild.Passes.Quantization;

namespace ModelBuild.Passes;

/// <summary>
/// Turns a variant's keys into an ordered list of passes. The order is fixed, whatever the key order in the
/// yaml: prune (needs float weights), then optimize (folds and fuses), then quantize or fp16 (last, on the final graph).
/// Every pass is built from its options record (StaticQuantConfig, DynamicQuantConfig, QatConfig, Fp16Config, PruneConfig,
/// FineTuneSettings), whose defaults are the only defaults: a key the manifest leaves out is null in the spec and
/// takes the record's value here.
/// </summary>
public static class PassPlanner
{
    /// <param name="model">The owning model, for accuracy-aware quantization (evaluate data, checks.accuracy).</param>
    /// <param name="fineTuner">libtorch training for prune.finetune; null where it is not available.</param>
    /// <param name="evaluationBatch">The build's evaluation batch: accuracy-aware dynamic quantization judges its goal in the same batches.</param>
    public static IReadOnlyList<IModelPass> Plan(VariantSpec variant, ModelSpec? model = null, IFineTuner? fineTuner = null, int evaluationBatch = 32)
    {
        var passes = new List<IModelPass>();
        if (variant.Prune is { } prune)
            passes.Add(PlanPrune(prune, model, fineTuner));
        if (variant.Optimize is { } optimize)
            passes.Add(new OptimizePass(optimize.Value, optimize.Location));
        if (variant.Quantize is { } quantize)
            passes.Add(PlanQuantize(quantize, model, fineTuner, evaluationBatch));
        if (variant.Fp16 is { } fp16)
        {
            var defaults = new Fp16Config();
            passes.Add(new Fp16Pass(defaults with
            {
                KeepIoTypes = fp16.KeepIoTypes ?? defaults.KeepIoTypes,
                BlockedOps = fp16.BlockOps?.ToHashSet(StringComparer.Ordinal) ?? defaults.BlockedOps,
            }, fp16.Location));
        }
        if (passes.Count == 0)
            throw new ModelBuildException(DiagnosticCodes.InvalidValue,
                $"variant '{variant.Name.Value}' applies no pass; give it optimize, quantize, fp16 or prune", variant.Location);
        return passes;
    }

    private static IModelPass PlanQuantize(QuantizeSpec q, ModelSpec? model, IFineTuner? fineTuner, int evaluationBatch)
    {
        var excludeOps = q.ExcludeOps.Concat(QuantizableOps.LeftOut(q.Mode, q.Ops)).ToHashSet(StringComparer.Ordinal);
        var excludeNodes = q.ExcludeNodes.ToHashSet(StringComparer.Ordinal);
        if (q.Mode == QuantizeMode.Dynamic)
        {
            var defaults = new DynamicQuantConfig();
            return new QuantizeDynamicPass(defaults with
            {
                PerChannel = q.PerChannel ?? defaults.PerChannel,
                ReduceRange = q.ReduceRange ?? defaults.ReduceRange,
                LatencyAware = q.LatencyAware ?? defaults.LatencyAware,
                OutlierChannels = q.OutlierChannels ?? defaults.OutlierChannels,
                ExcludeOps = excludeOps,
                ExcludeNodes = excludeNodes,
            }, q.Location, q.AccuracyAware ? GoalTarget(q, model, evaluationBatch) : null)
            {
                // Without evaluate data the pass generates its probe inputs as the build does: sentences where a vocab.txt sits beside the source.
                Vocabulary = model?.Evaluate is null ? model?.Source.Path : null,
            };
        }

        var calibration = q.Calibration
            ?? throw new ModelBuildException(DiagnosticCodes.MissingKey, "static quantization needs 'calibration'", q.Location);
        // checks.accuracy scored as the check scores it (the loader made sure it exists, with evaluate data).
        var target = q.AccuracyAware ? GoalTarget(q, model, evaluationBatch) : null;
        var staticDefaults = new StaticQuantConfig();
        var staticConfig = staticDefaults with
        {
            Method = calibration.Method ?? staticDefaults.Method,
            CalibrationSamples = calibration.Samples ?? staticDefaults.CalibrationSamples,
            PerChannel = q.PerChannel ?? staticDefaults.PerChannel,
            SymmetricActivations = q.Symmetric ?? staticDefaults.SymmetricActivations,
            ReduceRange = q.ReduceRange ?? staticDefaults.ReduceRange,
            LatencyAware = q.LatencyAware ?? staticDefaults.LatencyAware,
            Format = q.Format switch
            {
                QuantizeFormat.QOperator => QuantFormat.QOperator,
                QuantizeFormat.Qdq => QuantFormat.Qdq,
                _ => staticDefaults.Format,
            },
            ExcludeOps = excludeOps,
            ExcludeNodes = excludeNodes,
        };
        if (q.Mode != QuantizeMode.Qat)
            return new QuantizeStaticPass(staticConfig, calibration.Data, q.Location, target, calibrationLocation: calibration.Location);

        var finetune = q.Finetune
            ?? throw new ModelBuildException(DiagnosticCodes.MissingKey, "quantization-aware training needs 'finetune'", q.Location);
        if (fineTuner is null)
            throw new ModelBuildException(DiagnosticCodes.TorchRuntimeUnavailable,
                "'quantize.finetune' (mode: qat) trains with libtorch, which is not available to this run (the modelbuild tool provides it)",
                finetune.Location);
        var qatDefaults = new QatConfig(staticConfig, FineTuneSettings.From(finetune));
        return new QuantizeQatPass(qatDefaults with { LearnScales = q.LearnScales ?? qatDefaults.LearnScales },
            calibration.Data, q.Location, fineTuner, target, calibration.Location);
    }

    /// <summary>
    /// Accuracy-aware quantization from a manifest with evaluate data: any checks.accuracy threshold is the goal (min,
    /// max_drop, max_drop_percent), scored with evaluate.metric, so e.g. metric cosine with min 0.99 keeps nodes in
    /// float until the output cosine against the float model is at least 0.99.
    /// </summary>
    private static AccuracyTarget GoalTarget(QuantizeSpec q, ModelSpec? model, int evaluationBatch)
    {
        if (model?.Evaluate is not { } evaluate || model.Checks.Accuracy is not { } accuracy)
            throw new ModelBuildException(DiagnosticCodes.MissingKey,
                "'quantize.accuracy_aware' needs evaluate data and checks.accuracy (min, max_drop or max_drop_percent): the goal it works to meet",
                q.AccuracyAwareLocation ?? q.Location);
        var goal = AccuracyGoal.From(accuracy, evaluate.Metric);
        // MaxDrop is the bench's bound; the goal decides here.
        return new AccuracyTarget(evaluate, goal.MaxDrop ?? 0) { Goal = goal, JudgeBatch = evaluationBatch };
    }

    private static IModelPass PlanPrune(PruneSpec p, ModelSpec? model, IFineTuner? fineTuner)
    {
        if (p.Finetune is { } ft && fineTuner is null)
            throw new ModelBuildException(DiagnosticCodes.TorchRuntimeUnavailable,
                "'prune.finetune' trains with libtorch, which is not available to this run (the modelbuild tool provides it)", ft.Location);
        // The schedule stops on checks.accuracy, scored on the evaluate data; without evaluate data it runs to the end.
        PruneGoal? goal = null;
        if (model?.Evaluate is { } evaluate)
        {
            var accuracy = model.Checks.Accuracy;
            goal = new PruneGoal(evaluate, accuracy?.Min?.Value, accuracy?.MaxDrop?.Value, accuracy?.MaxDropPercent?.Value);
        }
        var defaults = new PruneConfig(p.Method, p.Amounts);
        return new PrunePass(defaults with
        {
            Norm = p.Norm ?? defaults.Norm,
            FineTune = p.Finetune is { } f ? FineTuneSettings.From(f) : null,
            RoundTo = p.RoundTo ?? defaults.RoundTo,
        }, p.Location, goal, fineTuner);
    }
}
