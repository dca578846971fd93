using ModelBuild.Data;
using ModelBuild.Data.Sources;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Execution;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes.Pruning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ModelBuild.Torch;

/// <summary>
/// Fine-tunes an ONNX model with libtorch (see <see cref="OnnxTorchGraph"/>): shuffled mini-batches, cross-entropy
/// (or MSE), Adam (or SGD with momentum 0.9); with <c>keepZeros</c> the pruned weights are multiplied by their mask
/// after every step, so they stay exactly zero. With the cosine schedule the learning rate anneals per step to 0.
/// The trained weights go back into a copy of the ONNX model. <see cref="FineTuneQuantized"/> runs the same loop on a
/// QDQ model with fake quantization (quantization-aware training).
/// </summary>
public sealed class OnnxFineTuner : IFineTuner
{
    public FineTuneResult FineTune(string inputOnnx, string outputOnnx, FineTuneSettings settings, bool keepZeros, SourceLocation location,
        CancellationToken cancellation) =>
        WithAllThreads(() => Train(inputOnnx, outputOnnx, settings, keepZeros, null, location, cancellation));

    public FineTuneResult FineTuneQuantized(string inputQdqOnnx, string outputOnnx, FineTuneSettings settings, QatTraining qat,
        SourceLocation location, CancellationToken cancellation) =>
        WithAllThreads(() => Train(inputQdqOnnx, outputOnnx, settings, keepZeros: false, qat, location, cancellation));

    private static FineTuneResult WithAllThreads(Func<FineTuneResult> train)
    {
        TorchNativeLoader.EnsureLoaded();
        // The reference runner pins libtorch to one thread for stable timings; training may use every core.
        var threads = torch.get_num_threads();
        torch.set_num_threads(Math.Max(1, Environment.ProcessorCount));
        try
        {
            return train();
        }
        finally
        {
            torch.set_num_threads(threads);
        }
    }

    /// <param name="qat">Quantization-aware training: the input is a QDQ model, run with fake quantization.</param>
    private static FineTuneResult Train(string inputOnnx, string outputOnnx, FineTuneSettings settings, bool keepZeros, QatTraining? qat,
        SourceLocation location, CancellationToken cancellation)
    {
        var model = OnnxModelFile.Load(inputOnnx, location);
        var io = ModelInterfaceReader.Read(model, location);
        var arrays = NpzReader.ReadAll(settings.Data);
        var missing = io.Inputs.Select(i => i.Name).Append(EvaluationDataset.LabelsName).Where(n => !arrays.ContainsKey(n)).ToList();
        if (missing.Count > 0)
            throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                $"fine-tuning data '{settings.Data}' has no array {string.Join(", ", missing.Select(m => $"'{m}'"))}; it needs one per model " +
                $"input plus 'labels'", location);
        var held = (int)arrays[EvaluationDataset.LabelsName].Shape[0];
        if (io.Inputs.Any(i => arrays[i.Name].Shape[0] != held))
            throw new ModelBuildException(DiagnosticCodes.DataMismatch, $"fine-tuning data '{settings.Data}': inputs and labels hold " +
                $"different sample counts", location);

        var count = Math.Min(held, settings.Samples ?? held);
        torch.manual_seed(settings.Seed);
        using var scope = NewDisposeScope();
        using var graph = new OnnxTorchGraph(model, location, qat);
        var inputs = io.Inputs.ToDictionary(i => i.Name, i => AsFloat(TorchTensors.ToTensor(arrays[i.Name].Slice(0, count))), StringComparer.Ordinal);
        var labelsArray = TorchTensors.ToTensor(arrays[EvaluationDataset.LabelsName].Slice(0, count));
        var labels = settings.Loss == FinetuneLoss.CrossEntropy ? labelsArray.to(ScalarType.Int64) : labelsArray.to(ScalarType.Float32);
        var teacherProbabilities = settings is { Distill: > 0, Teacher: { } teacher }
            ? softmax(TeacherLogits(teacher, io, arrays, count, location, cancellation) / settings.Temperature, 1)
            : null;
        var masks = keepZeros
            ? graph.Parameters.Where(p => p.Value.dim() >= 2).ToDictionary(p => p.Key, p => p.Value.detach().ne(0).to(ScalarType.Float32))
            : new Dictionary<string, Tensor>();
        // Learned activation scales (QAT) train at their own rate, in a second parameter group.
        var scaleNames = graph.ScaleParameters;
        var parameters = graph.Parameters.Where(p => !scaleNames.Contains(p.Key)).Select(p => p.Value).ToList();
        var scales = graph.Parameters.Where(p => scaleNames.Contains(p.Key)).Select(p => p.Value).ToList();
        var scaleRate = qat?.ScaleLearningRate ?? settings.LearningRate;
        using var optimizer = settings.Optimizer == FinetuneOptimizer.Sgd
            ? (optim.Optimizer)optim.SGD(
                new[] { new SGD.ParamGroup(parameters, settings.LearningRate, momentum: 0.9), new SGD.ParamGroup(scales, scaleRate, momentum: 0.9) }
                    .Where(g => g.Parameters.Any()), settings.LearningRate, momentum: 0.9)
            : optim.Adam(new[] { new Adam.ParamGroup(parameters, settings.LearningRate), new Adam.ParamGroup(scales, scaleRate) }
                .Where(g => g.Parameters.Any()), settings.LearningRate);

        var stepsPerEpoch = (count + settings.BatchSize - 1) / settings.BatchSize;
        var scheduler = settings.Schedule == FinetuneSchedule.Cosine
            ? optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.Epochs * stepsPerEpoch, eta_min: 0)
            : null;

        graph.Training = true;
        var rng = new Random(settings.Seed);
        var order = Enumerable.Range(0, count).ToArray();
        var losses = new List<double>();
        for (var epoch = 0; epoch < settings.Epochs; epoch++)
        {
            rng.Shuffle(order);
            double total = 0;
            for (var start = 0; start < count; start += settings.BatchSize)
            {
                cancellation.ThrowIfCancellationRequested();
                using var step = NewDisposeScope();
                var size = Math.Min(settings.BatchSize, count - start);
                // Batch statistics of one sample are undefined (PyTorch refuses them); a lone last sample waits for the next epoch.
                if (size < 2 && count > 1) continue;
                var index = tensor(order.AsSpan(start, size).ToArray().Select(i => (long)i).ToArray());
                var batch = inputs.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, index), StringComparer.Ordinal);
                var output = graph.Forward(batch);
                var target = labels.index_select(0, index);
                var loss = settings.Loss == FinetuneLoss.CrossEntropy
                    ? F.cross_entropy(output, target)
                    : F.mse_loss(output, target.reshape(output.shape));
                if (teacherProbabilities is not null)
                    loss = (1 - settings.Distill) * loss
                        + settings.Distill * Distillation(output, teacherProbabilities.index_select(0, index), settings.Temperature);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                scheduler?.step();
                if (masks.Count > 0)
                    using (no_grad())
                        foreach (var (name, mask) in masks) graph.Parameters[name].mul_(mask);
                total += loss.item<float>() * size;
            }
            losses.Add(total / count);
        }

        graph.WriteBack();
        File.WriteAllBytes(outputOnnx, OnnxModelFile.Serialize(model));
        return new FineTuneResult(losses, count);
    }

    /// <summary>
    /// KL(teacher ‖ student) on temperature-softened class probabilities, scaled by T² so its gradients keep the
    /// size of the cross-entropy term's whatever the temperature (Hinton et al., 2015).
    /// </summary>
    private static Tensor Distillation(Tensor studentLogits, Tensor teacherProbabilities, double temperature)
    {
        var studentLog = F.log_softmax(studentLogits / temperature, 1);
        var kl = (teacherProbabilities * (teacherProbabilities.clamp_min(1e-12).log() - studentLog)).sum(1).mean();
        return kl * (temperature * temperature);
    }

    /// <summary>The teacher's first output on the training samples, run once by ONNX Runtime before training starts.</summary>
    private static Tensor TeacherLogits(string teacherOnnx, ModelInterface io, IReadOnlyDictionary<string, NdArray> arrays,
        int count, SourceLocation location,
        CancellationToken cancellation)
    {
        using var runner = new ModelRunner(teacherOnnx, location, intraOpThreads: Math.Max(1, Environment.ProcessorCount));
        var samples = new EvaluationSet(new InMemorySource(io.Inputs.ToDictionary(i => i.Name, i => arrays[i.Name], StringComparer.Ordinal),
            null, count), "fine-tuning data");
        var outputs = BatchedRunner.Run(runner, samples, BatchedRunner.BatchSizeFor(io, 256), BatchedRunner.HasFixedBatch(io), cancellation);
        return AsFloat(TorchTensors.ToTensor(outputs[io.Outputs[0].Name]));
    }

    private static Tensor AsFloat(Tensor t) => t.dtype == ScalarType.Float32 ? t : t.to(ScalarType.Float32);
}
