namespace ModelBuild.Passes.Pruning;

/// <summary>What quantization-aware training needs beyond <see cref="FineTuneSettings"/> (QatConfig holds the defaults).</summary>
/// <param name="LearnScales">Activation scales train with the weights (learned step size); false: frozen at their calibrated values.</param>
/// <param name="ReduceRange">Weights are quantized again to 7 bits, as the static pass quantized them.</param>
/// <param name="ScaleLearningRate">Learning rate of the learned scales' logarithms (a step of 0.01 moves a scale by about 1 %).</param>
public sealed record QatTraining(bool LearnScales, bool ReduceRange, double ScaleLearningRate);
