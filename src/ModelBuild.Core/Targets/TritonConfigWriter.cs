using System.Globalization;
using System.Text;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Targets;

/// <summary>
/// Writes a Triton <c>config.pbtxt</c> (protobuf text format of <c>inference.ModelConfig</c>) for one model.
/// The text is deterministic: fixed field order, invariant culture, '\n' newlines.
/// </summary>
public static class TritonConfigWriter
{
    /// <summary>Builds the config text.</summary>
    /// <param name="modelName">The model's folder name in the repository; Triton requires them to match.</param>
    /// <param name="model">The deployed model's inputs and outputs.</param>
    /// <param name="spec">The manifest's <c>deploy.triton</c>, or null for defaults (no batching).</param>
    /// <exception cref="ModelBuildException">
    /// <see cref="DiagnosticCodes.InvalidValue"/> when the settings cannot work with this model, e.g. a
    /// <c>max_batch_size</c> above 0 for a model whose first axis is fixed.
    /// </exception>
    public static string Write(string modelName, ModelInterface model, TritonSpec? spec, TritonPlatform platform)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelName);
        ArgumentNullException.ThrowIfNull(model);

        var maxBatch = spec?.MaxBatchSize ?? 0;
        Validate(model, spec, maxBatch, platform);

        var w = new StringBuilder();
        w.Append("name: ").Append(Quote(modelName)).Append('\n');
        w.Append("platform: ").Append(Quote(PlatformName(platform))).Append('\n');
        w.Append("max_batch_size: ").Append(Int(maxBatch)).Append('\n');
        WriteVersionPolicy(w, spec?.VersionPolicy ?? VersionPolicySpec.Latest);

        WriteTensors(w, "input", model.Inputs, "INPUT__", platform, maxBatch);
        WriteTensors(w, "output", model.Outputs, "OUTPUT__", platform, maxBatch);

        if (spec?.DynamicBatching is { } db)
        {
            w.Append("dynamic_batching {\n");
            if (db.PreferredBatchSizes.Count > 0)
                w.Append("  preferred_batch_size: ").Append(List(db.PreferredBatchSizes.Select(s => (long)s))).Append('\n');
            w.Append("  max_queue_delay_microseconds: ").Append(Int(db.MaxQueueDelayUs)).Append('\n');
            w.Append("}\n");
        }

        if (spec is { InstanceGroups.Count: > 0 })
        {
            w.Append("instance_group [\n");
            for (var i = 0; i < spec.InstanceGroups.Count; i++)
            {
                var g = spec.InstanceGroups[i];
                w.Append("  {\n");
                w.Append("    count: ").Append(Int(g.Count)).Append('\n');
                w.Append("    kind: ").Append(g.Kind == InstanceKind.Gpu ? "KIND_GPU" : "KIND_CPU").Append('\n');
                w.Append(i < spec.InstanceGroups.Count - 1 ? "  },\n" : "  }\n");
            }
            w.Append("]\n");
        }

        if (spec?.Optimization is { Accelerator: not AcceleratorKind.None } opt)
            WriteOptimization(w, opt);
        if (spec?.Warmup is { } warmup)
            WriteWarmup(w, model.Inputs, platform, maxBatch, warmup);

        return w.ToString();
    }

    /// <summary>The config for a TorchScript artifact served by the libtorch backend (tensors named INPUT__i/OUTPUT__i).</summary>
    public static string WriteLibTorch(string modelName, ModelInterface model, TritonSpec? spec) =>
        Write(modelName, model, spec, TritonPlatform.PyTorchLibTorch);

    /// <summary>
    /// The config of an ensemble (<c>platform: "ensemble"</c>): its own inputs and outputs, and the steps that route
    /// tensors between the composing models. Triton allows no instance groups, batching policy or warm-up here.
    /// </summary>
    public static string WriteEnsemble(
        string modelName, ModelInterface ensemble, int maxBatch, VersionPolicySpec policy, IReadOnlyList<EnsembleStep> steps)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelName);
        ArgumentNullException.ThrowIfNull(ensemble);
        if (steps.Count == 0) throw new ArgumentException("an ensemble needs at least one step", nameof(steps));

        var w = new StringBuilder();
        w.Append("name: ").Append(Quote(modelName)).Append('\n');
        w.Append("platform: \"ensemble\"\n");
        w.Append("max_batch_size: ").Append(Int(maxBatch)).Append('\n');
        WriteVersionPolicy(w, policy);
        WriteTensors(w, "input", ensemble.Inputs, "INPUT__", TritonPlatform.OnnxRuntime, maxBatch);
        WriteTensors(w, "output", ensemble.Outputs, "OUTPUT__", TritonPlatform.OnnxRuntime, maxBatch);
        w.Append("ensemble_scheduling {\n");
        w.Append("  step [\n");
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            w.Append("    {\n");
            w.Append("      model_name: ").Append(Quote(step.ModelName)).Append('\n');
            w.Append("      model_version: ").Append(Int(step.ModelVersion)).Append('\n');
            foreach (var (key, value) in step.InputMap)
                w.Append("      input_map { key: ").Append(Quote(key)).Append(" value: ").Append(Quote(value)).Append(" }\n");
            foreach (var (key, value) in step.OutputMap)
                w.Append("      output_map { key: ").Append(Quote(key)).Append(" value: ").Append(Quote(value)).Append(" }\n");
            w.Append(i < steps.Count - 1 ? "    },\n" : "    }\n");
        }
        w.Append("  ]\n");
        w.Append("}\n");
        return w.ToString();
    }

    private static void WriteVersionPolicy(StringBuilder w, VersionPolicySpec policy)
    {
        // Pinning a policy even for the default keeps the intent visible in the file.
        w.Append("version_policy: ").Append(policy.Kind switch
        {
            VersionPolicyKind.All => "{ all: { } }",
            VersionPolicyKind.Specific => "{ specific: { versions: " + List(policy.Versions) + " } }",
            _ => "{ latest: { num_versions: 1 } }",
        }).Append('\n');
    }

    private static void WriteOptimization(StringBuilder w, TritonOptimizationSpec opt)
    {
        w.Append("optimization {\n");
        w.Append("  execution_accelerators {\n");
        if (opt.Accelerator == AcceleratorKind.TensorRt)
        {
            // ONNX Runtime's TensorRT execution provider, configured through the backend's documented parameters.
            w.Append("    gpu_execution_accelerator [\n");
            w.Append("      {\n");
            w.Append("        name: \"tensorrt\"\n");
            w.Append("        parameters { key: \"precision_mode\" value: ").Append(Quote(PrecisionName(opt.Precision))).Append(" }\n");
            if (opt.MaxWorkspaceMb is { } mb)
                w.Append("        parameters { key: \"max_workspace_size_bytes\" value: ").Append(Quote(Int(mb * 1024L * 1024L))).Append(" }\n");
            w.Append("      }\n");
            w.Append("    ]\n");
        }
        else
        {
            w.Append("    cpu_execution_accelerator [\n");
            w.Append("      {\n");
            w.Append("        name: \"openvino\"\n");
            w.Append("      }\n");
            w.Append("    ]\n");
        }
        w.Append("  }\n");
        w.Append("}\n");
    }

    /// <summary>The backend's <c>precision_mode</c> value.</summary>
    public static string PrecisionName(PrecisionKind precision) => precision switch
    {
        PrecisionKind.Fp16 => "FP16",
        PrecisionKind.Int8 => "INT8",
        _ => "FP32",
    };

    private static void WriteWarmup(StringBuilder w, IReadOnlyList<TensorInfo> inputs, TritonPlatform platform, int maxBatch, WarmupSpec warmup)
    {
        w.Append("model_warmup [\n");
        w.Append("  {\n");
        w.Append("    name: ").Append(Quote($"random_batch_{Int(warmup.BatchSize)}")).Append('\n');
        w.Append("    batch_size: ").Append(Int(warmup.BatchSize)).Append('\n');
        for (var i = 0; i < inputs.Count; i++)
        {
            var t = inputs[i];
            // Warm-up dims exclude the batch axis, like the input's own dims.
            var dims = TensorDims(t, maxBatch);
            w.Append("    inputs {\n");
            w.Append("      key: ").Append(Quote(TensorName(t, i, "INPUT__", platform))).Append('\n');
            w.Append("      value: {\n");
            w.Append("        data_type: ").Append(DataTypeName(t.ElementType)).Append('\n');
            w.Append("        dims: ").Append(List(dims.Count == 0 ? (IEnumerable<long>)[1L] : dims.Select(d => d!.Value))).Append('\n');
            w.Append("        random_data: true\n");
            w.Append("      }\n");
            w.Append("    }\n");
        }
        w.Append("  }\n");
        w.Append("]\n");
    }

    private static List<long?> TensorDims(TensorInfo t, int maxBatch) =>
        (maxBatch > 0 ? t.Dims.Skip(1) : t.Dims).Select(d => d.Size).ToList();

    /// <summary>The name Triton knows an input (or output) of a model by: the graph's, or INPUT__i/OUTPUT__i for libtorch.</summary>
    public static string InputName(TensorInfo t, int index, TritonPlatform platform) => TensorName(t, index, "INPUT__", platform);

    public static string OutputName(TensorInfo t, int index, TritonPlatform platform) => TensorName(t, index, "OUTPUT__", platform);

    private static string TensorName(TensorInfo t, int index, string torchPrefix, TritonPlatform platform) =>
        platform == TritonPlatform.PyTorchLibTorch ? torchPrefix + Int(index) : t.Name;

    /// <summary>The <c>platform</c> string Triton expects for a backend.</summary>
    public static string PlatformName(TritonPlatform platform) => platform switch
    {
        TritonPlatform.OnnxRuntime => "onnxruntime_onnx",
        TritonPlatform.PyTorchLibTorch => "pytorch_libtorch",
        TritonPlatform.TensorRtPlan => "tensorrt_plan",
        _ => throw new ArgumentOutOfRangeException(nameof(platform), platform, null),
    };

    /// <summary>The <c>DataType</c> enum name for an element type (e.g. <c>TYPE_FP32</c>).</summary>
    public static string DataTypeName(TensorElementType type) => type switch
    {
        TensorElementType.Float32 => "TYPE_FP32",
        TensorElementType.Float16 => "TYPE_FP16",
        TensorElementType.Float64 => "TYPE_FP64",
        TensorElementType.Int64 => "TYPE_INT64",
        TensorElementType.Int32 => "TYPE_INT32",
        TensorElementType.Int8 => "TYPE_INT8",
        TensorElementType.UInt8 => "TYPE_UINT8",
        TensorElementType.Bool => "TYPE_BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    private static void Validate(ModelInterface model, TritonSpec? spec, int maxBatch, TritonPlatform platform)
    {
        if (spec is null) return;
        var where = spec.Location;
        if (maxBatch < 0)
            throw Invalid($"max_batch_size must be 0 or more, but is {Int(maxBatch)}.", where);

        if (maxBatch > 0)
        {
            // Triton prepends its own batch axis to dims, so the model's first axis must accept any size.
            foreach (var (kind, t) in model.Inputs.Select(t => ("input", t)).Concat(model.Outputs.Select(t => ("output", t))))
            {
                if (!t.HasDynamicBatch)
                    throw Invalid(
                        $"max_batch_size {Int(maxBatch)} needs a dynamic first axis, but {kind} '{t.Name}' is " +
                        $"[{string.Join(",", t.Dims)}]. Export the model with a dynamic batch axis, or set max_batch_size: 0.",
                        where);
            }
        }

        if (spec.DynamicBatching is { } db)
        {
            if (maxBatch == 0)
                throw Invalid("dynamic_batching needs max_batch_size above 0: without a batch axis Triton cannot batch requests.", where);
            if (db.MaxQueueDelayUs < 0)
                throw Invalid($"dynamic_batching max_queue_delay_us must be 0 or more, but is {Int(db.MaxQueueDelayUs)}.", where);
            foreach (var size in db.PreferredBatchSizes)
            {
                if (size < 1 || size > maxBatch)
                    throw Invalid(
                        $"dynamic_batching preferred batch size {Int(size)} must be between 1 and max_batch_size {Int(maxBatch)}.",
                        where);
            }
        }

        foreach (var g in spec.InstanceGroups)
        {
            if (g.Count < 1)
                throw Invalid($"instance_group count must be 1 or more, but is {Int(g.Count)}.", where);
        }

        if (spec.Optimization is { Accelerator: not AcceleratorKind.None } opt && platform != TritonPlatform.OnnxRuntime)
            throw Invalid($"optimization accelerators are ONNX Runtime execution providers; platform {PlatformName(platform)} has none.",
                opt.Location);

        if (spec.VersionPolicy is { Kind: VersionPolicyKind.Specific } policy && !policy.Versions.Contains(spec.Version))
            throw Invalid($"version_policy specific [{string.Join(", ", policy.Versions)}] does not include version " +
                $"{Int(spec.Version)}, the one written.", where);

        if (spec.Warmup is { } warmup)
        {
            if (warmup.BatchSize < 1 || warmup.BatchSize > Math.Max(1, maxBatch))
                throw Invalid($"warmup batch_size {Int(warmup.BatchSize)} must be between 1 and {Int(Math.Max(1, maxBatch))}.", where);
            // Random warm-up data needs a concrete shape; Triton cannot invent a size for a dynamic axis.
            foreach (var t in model.Inputs)
            {
                if (TensorDims(t, maxBatch).Any(d => d is null))
                    throw Invalid(
                        $"warmup needs fixed input shapes (batch axis aside), but input '{t.Name}' is [{string.Join(",", t.Dims)}].", where);
            }
        }
    }

    private static void WriteTensors(
        StringBuilder w, string field, IReadOnlyList<TensorInfo> tensors, string torchPrefix, TritonPlatform platform, int maxBatch)
    {
        if (tensors.Count == 0) return;
        w.Append(field).Append(" [\n");
        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            var name = TensorName(t, i, torchPrefix, platform);
            // With batching, Triton owns the first axis: it is left out of dims (full shape = [-1] + dims).
            var dims = (maxBatch > 0 ? t.Dims.Skip(1) : t.Dims).Select(d => d.Size ?? -1L).ToList();

            w.Append("  {\n");
            w.Append("    name: ").Append(Quote(name)).Append('\n');
            w.Append("    data_type: ").Append(DataTypeName(t.ElementType)).Append('\n');
            if (dims.Count == 0)
            {
                // Triton rejects empty dims; a one-element tensor reshaped to a scalar is its idiom.
                w.Append("    dims: [ 1 ]\n");
                w.Append("    reshape: { shape: [ ] }\n");
            }
            else
            {
                w.Append("    dims: ").Append(List(dims)).Append('\n');
            }
            w.Append(i < tensors.Count - 1 ? "  },\n" : "  }\n");
        }
        w.Append("]\n");
    }

    private static ModelBuildException Invalid(string message, SourceLocation location) =>
        new(DiagnosticCodes.InvalidValue, message, location);

    private static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string List(IEnumerable<long> values) =>
        "[ " + string.Join(", ", values.Select(Int)) + " ]";

    /// <summary>A text-format string literal; non-ASCII and control bytes as octal escapes of their UTF-8.</summary>
    private static string Quote(string value)
    {
        var sb = new StringBuilder("\"");
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            switch (b)
            {
                case (byte)'"': sb.Append("\\\""); break;
                case (byte)'\\': sb.Append("\\\\"); break;
                case >= 0x20 and < 0x7f: sb.Append((char)b); break;
                default: sb.Append('\\').Append(Convert.ToString(b, 8).PadLeft(3, '0')); break;
            }
        }
        return sb.Append('"').ToString();
    }
}

/// <summary>One step of an ensemble: the model it runs and how its tensors map to the ensemble's (model name → ensemble name).</summary>
public sealed record EnsembleStep(
    string ModelName, long ModelVersion,
    IReadOnlyList<KeyValuePair<string, string>> InputMap, IReadOnlyList<KeyValuePair<string, string>> OutputMap);
