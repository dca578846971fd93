using System.Globalization;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Targets;

/// <summary>One TensorRT engine the Dockerfile's engine stage builds with trtexec, and where the plan goes.</summary>
/// <param name="ModelName">The model's folder name in the Triton repository.</param>
/// <param name="Version">The version folder the plan is copied into.</param>
/// <param name="Arguments">trtexec's arguments (exec form, so no shell quoting is involved).</param>
public sealed record TensorRtEngine(string ModelName, int Version, IReadOnlyList<string> Arguments)
{
    /// <summary>trtexec in NVIDIA's TensorRT image.</summary>
    public const string TrtExec = "/usr/src/tensorrt/bin/trtexec";

    /// <summary>Where the engine stage holds the ONNX models and the plans it writes.</summary>
    public const string StageFolder = "/engines";

    public string PlanPath => $"{StageFolder}/{ModelName}/model.plan";

    /// <summary>
    /// The trtexec command for a model. With <c>max_batch_size</c> above 0 the engine gets one optimization
    /// profile from batch 1 to <c>max_batch_size</c> (optimized for the largest preferred batch, else the maximum);
    /// every other axis must be fixed, since nothing in the manifest says what sizes a dynamic axis takes.
    /// </summary>
    /// <exception cref="ModelBuildException">MB1004 when the model's shapes or names cannot make an engine.</exception>
    public static TensorRtEngine For(string modelName, ModelInterface model, TritonSpec spec)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelName);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(spec);
        var where = spec.Location;
        var maxBatch = spec.MaxBatchSize;

        var args = new List<string>
        {
            $"--onnx={StageFolder}/{modelName}/model.onnx",
            $"--saveEngine={StageFolder}/{modelName}/model.plan",
        };
        if (spec.Optimization is { } opt)
        {
            if (opt.Precision == PrecisionKind.Fp16) args.Add("--fp16");
            if (opt.Precision == PrecisionKind.Int8) args.Add("--int8");
            if (opt.MaxWorkspaceMb is { } mb) args.Add($"--memPoolSize=workspace:{Int(mb)}");
        }

        foreach (var t in model.Inputs)
        {
            // trtexec's shape syntax separates inputs with ',' and the name from the shape with ':'.
            if (t.Name.IndexOfAny([',', ':']) >= 0 || t.Name.Length == 0)
                throw new ModelBuildException(DiagnosticCodes.InvalidValue,
                    $"TensorRT: input name '{t.Name}' cannot be passed to trtexec (it contains ',' or ':'); rename the input in the export.", where);
            var inner = maxBatch > 0 ? t.Dims.Skip(1) : t.Dims;
            if (maxBatch > 0 && (t.Dims.Count == 0 || t.Dims[0].Size is not null))
                throw new ModelBuildException(DiagnosticCodes.InvalidValue,
                    $"TensorRT: max_batch_size {Int(maxBatch)} needs a dynamic first axis, but input '{t.Name}' is [{string.Join(",", t.Dims)}].",
                    where);
            if (inner.Any(d => d.Size is null))
                throw new ModelBuildException(DiagnosticCodes.InvalidValue,
                    $"TensorRT: input '{t.Name}' is [{string.Join(",", t.Dims)}]; every axis but the batch axis (with max_batch_size > 0) must be " +
                    $"fixed to build an engine.", where);
        }

        if (maxBatch > 0)
        {
            var optBatch = spec.DynamicBatching is { PreferredBatchSizes.Count: > 0 } db ? db.PreferredBatchSizes.Max() : maxBatch;
            args.Add("--minShapes=" + Shapes(model, 1));
            args.Add("--optShapes=" + Shapes(model, optBatch));
            args.Add("--maxShapes=" + Shapes(model, maxBatch));
        }
        return new TensorRtEngine(modelName, spec.Version, args);
    }

    private static string Shapes(ModelInterface model, int batch) =>
        string.Join(",", model.Inputs.Select(t =>
            t.Name + ":" + string.Join("x", new[] { (long)batch }.Concat(t.Dims.Skip(1).Select(d => d.Size!.Value)).Select(Int))));

    private static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);
}
