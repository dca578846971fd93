using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using ModelBuild.Passes.Pruning;
using ModelBuild.Passes.Quantization;

namespace ModelBuild.Passes;

/// <summary>Settings of quantization-aware training, and their one default.</summary>
/// <param name="Static">The static QDQ quantization training starts from (QDQ format always).</param>
/// <param name="FineTune">The training run (prune.finetune's keys and defaults).</param>
/// <param name="LearnScales">Activation scales train with the weights; false freezes them at their calibrated values.</param>
/// <param name="ScaleLearningRate">
/// Learning rate of the learned scales (their logarithms: 0.03 lets a scale move about 3 % per step), on the same
/// schedule as the weights'. At the weights' rate a short fine-tune barely moves a scale, too little to undo a
/// calibration that clipped. Measured on the depthwise network calibrated with entropy on 256 images of one class (docs/bench.md):
/// top-1 0.879 at 0.01, 0.885 (fp32's) at 0.03 and at 0.1; frozen scales 0.864.
/// </param>
public sealed record QatConfig(StaticQuantConfig Static, FineTuneSettings FineTune, bool LearnScales = true, double ScaleLearningRate = 0.03);

/// <summary>
/// Quantization-aware training: the model is quantized to QDQ by <see cref="QuantizeStaticPass"/> with the same
/// keys (calibration, per_channel, latency_aware, exclude, ...), then fine-tuned in libtorch with its Q/DQ pairs run
/// as fake quantization (<see cref="IFineTuner.FineTuneQuantized"/>), and written as a QDQ model again.
/// With <c>distill</c>, the float input model is the teacher.
/// </summary>
public sealed class QuantizeQatPass(QatConfig config, string calibrationData, SourceLocation location, IFineTuner? tuner,
    AccuracyTarget? accuracy = null, SourceLocation? calibrationLocation = null) : IModelPass
{
    public string Name => $"quantize:qat:{config.Static.Method.ToString().ToLowerInvariant()}:{(config.LearnScales ? "learned" : "frozen")}-scales";
    public bool IsLossless => false;

    public void Run(PassContext context)
    {
        if (tuner is null)
            throw new ModelBuildException(DiagnosticCodes.TorchRuntimeUnavailable,
                "quantize.finetune (mode: qat) needs libtorch, which is not available to this run", location);
        var staged = context.OutputPath + ".static.onnx";
        try
        {
            new QuantizeStaticPass(config.Static with { Format = QuantFormat.Qdq }, calibrationData, location, accuracy, calibrationLocation)
                .Run(context with { OutputPath = staged });
            if (!OnnxModelFile.Load(staged, location).Graph.Node.Any(n => n.OpType == "QuantizeLinear"))
            {
                // Latency-aware static int8 gave the parent back (its warning says why): there is nothing to train.
                File.Copy(staged, context.OutputPath, overwrite: true);
                return;
            }
            var settings = config.FineTune.Distill > 0 ? config.FineTune with { Teacher = context.InputPath } : config.FineTune;
            var result = tuner.FineTuneQuantized(staged, context.OutputPath, settings,
                new QatTraining(config.LearnScales, config.Static.ReduceRange, config.ScaleLearningRate), location, context.Cancellation);
            context.Outcome.Notes.Add($"qat: {result.Samples} samples, {result.EpochLosses.Count} epoch(s), " +
                $"{(config.LearnScales ? "learned" : "frozen")} activation scales; mean loss per epoch " +
                string.Join(", ", result.EpochLosses.Select(l => l.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture))));
        }
        finally
        {
            File.Delete(staged);
        }
    }
}
