using ModelBuild.Diagnostics;
using ModelBuild.Manifest;

namespace ModelBuild.Passes.Pruning;

/// <param name="Data">.npz with one array per model input plus <c>labels</c> (class ids for cross_entropy, targets for mse).</param>
/// <param name="Schedule">Learning rate over the run: constant, or cosine-annealed per step from <c>LearningRate</c> to 0.</param>
/// <param name="Distill">Weight of knowledge distillation from <c>Teacher</c> (0..1); the labels' cross-entropy gets 1 − Distill.</param>
/// <param name="Temperature">Softmax temperature both logits are divided by in the distillation term.</param>
/// <param name="Teacher">The ONNX model whose outputs are the soft targets (PrunePass: the unpruned input model).</param>
public sealed record FineTuneSettings(
    string Data,
    int Epochs = 1,
    int BatchSize = 64,
    double LearningRate = 1e-3,
    FinetuneOptimizer Optimizer = FinetuneOptimizer.Adam,
    FinetuneLoss Loss = FinetuneLoss.CrossEntropy,
    int Seed = 20240611,
    int? Samples = null,
    FinetuneSchedule Schedule = FinetuneSchedule.Cosine,
    double Distill = 0,
    double Temperature = 2,
    string? Teacher = null)
{
    /// <summary>The manifest's finetune keys over this record's defaults (the only ones).</summary>
    public static FineTuneSettings From(FinetuneSpec spec)
    {
        var d = new FineTuneSettings(spec.Data);
        return d with
        {
            Epochs = spec.Epochs ?? d.Epochs,
            BatchSize = spec.BatchSize ?? d.BatchSize,
            LearningRate = spec.LearningRate ?? d.LearningRate,
            Optimizer = spec.Optimizer ?? d.Optimizer,
            Loss = spec.Loss ?? d.Loss,
            Samples = spec.Samples,
            Schedule = spec.Schedule ?? d.Schedule,
            Distill = spec.Distill ?? d.Distill,
            Temperature = spec.Temperature ?? d.Temperature,
        };
    }
}

/// <summary>Mean training loss of each epoch.</summary>
public sealed record FineTuneResult(IReadOnlyList<double> EpochLosses, int Samples);

/// <summary>
/// Trains an ONNX model's weights on labelled data and writes them back into a copy of the model. Implemented with
/// libtorch by ModelBuild.Torch and handed in by the tool (BuildOptions.FineTuner), so the
/// engine never loads libtorch itself.
/// </summary>
public interface IFineTuner
{
    /// <param name="keepZeros">Weights that are exactly zero stay zero (unstructured pruning's masks).</param>
    FineTuneResult FineTune(string inputOnnx, string outputOnnx, FineTuneSettings settings, bool keepZeros, SourceLocation location,
        CancellationToken cancellation);

    /// <summary>
    /// Quantization-aware training of a QDQ model (QuantizeStaticPass's output): its QuantizeLinear→DequantizeLinear
    /// pairs run as fake quantization, the weights train in float and are quantized again into the written QDQ model.
    /// </summary>
    FineTuneResult FineTuneQuantized(string inputQdqOnnx, string outputOnnx, FineTuneSettings settings, QatTraining qat, SourceLocation location,
        CancellationToken cancellation);
}
