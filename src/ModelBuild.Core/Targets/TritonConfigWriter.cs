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
        Validate(model, spec, maxBatch);

        var w = new StringBuilder();
        w.Append("name: ").Append(Quote(modelName)).Append('\n');
        w.Append("platform: ").Append(Quote(PlatformName(platform))).Append('\n');
        w.Append("max_batch_size: ").Append(Int(maxBatch)).Append('\n');
        // Only version 1 is written; pinning the policy keeps Triton from serving stray version folders.
        w.Append("version_policy: { latest: { num_versions: 1 } }\n");

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

        return w.ToString();
    }

    /// <summary>The <c>platform</c> string Triton expects for a backend.</summary>
    public static string PlatformName(TritonPlatform platform) => platform switch
    {
        TritonPlatform.OnnxRuntime => "onnxruntime_onnx",
        TritonPlatform.PyTorchLibTorch => "pytorch_libtorch",
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

    private static void Validate(ModelInterface model, TritonSpec? spec, int maxBatch)
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
    }

    private static void WriteTensors(
        StringBuilder w, string field, IReadOnlyList<TensorInfo> tensors, string torchPrefix, TritonPlatform platform, int maxBatch)
    {
        if (tensors.Count == 0) return;
        w.Append(field).Append(" [\n");
        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            var name = platform == TritonPlatform.PyTorchLibTorch
                ? torchPrefix + Int(i)
                : t.Name;
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
