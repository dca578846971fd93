using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>Calibration inputs: an .npy (single-input models) or an .npz with one array per model input, capped at N samples.</summary>
public static class CalibrationData
{
    public static EvaluationDataset Load(string path, int samples, ModelProto model, SourceLocation location) =>
        DataFileErrors.At(location, () => LoadAt(path, samples, model, location));

    private static EvaluationDataset LoadAt(string path, int samples, ModelProto model, SourceLocation location)
    {
        var inputs = ModelInterfaceReader.Read(model, location).Inputs;
        IReadOnlyDictionary<string, NdArray> arrays;
        if (path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase))
        {
            arrays = NpzReader.ReadAll(path);
        }
        else
        {
            if (inputs.Count != 1)
                throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                    $"calibration data '{path}' is a single .npy but the model takes {inputs.Count} inputs; use an .npz with one array per input",
                    location);
            arrays = new Dictionary<string, NdArray> { [inputs[0].Name] = NpyReader.Read(path) };
        }
        return EvaluationDataset.Create(arrays, null, inputs, samples, path, location);
    }

    /// <summary>
    /// Batches of at most <paramref name="batch"/> samples, every sample used (the last batch may be smaller); a
    /// fixed-batch model gets only its own batch size, and samples that do not fill a last batch are left out.
    /// </summary>
    public static IEnumerable<IReadOnlyDictionary<string, NdArray>> Batches(EvaluationDataset data, ModelProto model,
        int batch, SourceLocation location)
    {
        var io = ModelInterfaceReader.Read(model, location);
        var size = Evaluation.BatchedRunner.BatchSizeFor(io, batch);
        var fixedBatch = Evaluation.BatchedRunner.HasFixedBatch(io);
        var usable = !fixedBatch ? data.Count : data.Count >= size ? data.Count / size * size : 0;
        if (usable == 0)
            throw new ModelBuildException(DiagnosticCodes.DataMismatch, $"the model takes batches of {size} but the calibration data has " +
                $"{data.Count} sample(s)", location);
        for (var start = 0; start < usable; start += size)
        {
            var count = Math.Min(size, usable - start);
            yield return data.Inputs.ToDictionary(kv => kv.Key, kv => kv.Value.Slice(start, count), StringComparer.Ordinal);
        }
    }
}
