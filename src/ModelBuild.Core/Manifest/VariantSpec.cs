using ModelBuild.Diagnostics;

namespace ModelBuild.Manifest;

public enum OptimizationLevel
{
    None,
    Basic,
    Extended,
}

/// <summary>One variant: a chain of passes applied to <see cref="From"/> ("base" or another variant).</summary>
public sealed class VariantSpec
{
    public const string BaseName = "base";

    public required Located<string> Name { get; init; }
    public Located<string> From { get; init; }
    public Located<OptimizationLevel>? Optimize { get; init; }
    public QuantizeSpec? Quantize { get; init; }
    public Fp16Spec? Fp16 { get; init; }
    public PruneSpec? Prune { get; init; }
    public required SourceLocation Location { get; init; }

    /// <summary>The files this variant reads, each with the manifest key that names it.</summary>
    public IEnumerable<(string Path, SourceLocation Location)> ReferencedFiles
    {
        get
        {
            if (Quantize?.Calibration is { } c) yield return (c.Data, c.Location);
            if (Prune?.Finetune is { } f) yield return (f.Data, f.Location);
            if (Quantize?.Finetune is { } qf) yield return (qf.Data, qf.Location);
        }
    }
}

public enum QuantizeMode
{
    Dynamic,
    Static,

    /// <summary>Quantization-aware training: static QDQ, then fine-tuned with fake quantization (needs <c>finetune</c>).</summary>
    Qat,
}

public enum CalibrationMethod
{
    MinMax,
    Percentile,
    Entropy,
}

public enum QuantizeFormat
{
    Qdq,
    QOperator,
}

public sealed class QuantizeSpec
{
    public required QuantizeMode Mode { get; init; }

    // Keys the manifest leaves out are null here: the pass's options record (StaticQuantConfig, DynamicQuantConfig)
    // holds the one default, and PassPlanner applies it.
    public bool? PerChannel { get; init; }

    /// <summary>Static only: QDQ pairs or fused QLinear* operators.</summary>
    public QuantizeFormat? Format { get; init; }

    /// <summary>Symmetric activations (zero point 0).</summary>
    public bool? Symmetric { get; init; }

    /// <summary>7-bit weights, for CPUs without VNNI where 8-bit products can saturate.</summary>
    public bool? ReduceRange { get; init; }

    /// <summary>Keep the layers that add the most error in float until checks.accuracy holds (static: max_drop; dynamic: any threshold).</summary>
    public bool AccuracyAware { get; init; }

    /// <summary>Keep float the nodes that run slower quantized on the building machine; null = the options record's default (on).</summary>
    public bool? LatencyAware { get; init; }

    /// <summary>Dynamic only: keep a MatMul activation's few outlier channels in float; null = the options record's default (on).</summary>
    public bool? OutlierChannels { get; init; }

    /// <summary>Where <c>accuracy_aware: true</c> is written, for the diagnostics about its goal.</summary>
    public SourceLocation? AccuracyAwareLocation { get; init; }
    public CalibrationSpec? Calibration { get; init; }

    /// <summary>Qat only: the training run (the keys of prune.finetune).</summary>
    public FinetuneSpec? Finetune { get; init; }

    /// <summary>Qat only: activation scales trained with the weights, or frozen at their calibrated values; null = QatConfig's default.</summary>
    public bool? LearnScales { get; init; }
    public IReadOnlyList<string> ExcludeOps { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> ExcludeNodes { get; init; } = Array.Empty<string>();

    /// <summary><c>quantize.ops</c>: the op types to quantize; null = the mode's default set (see PassPlanner).</summary>
    public IReadOnlyList<string>? Ops { get; init; }
    public required SourceLocation Location { get; init; }
}

public sealed class CalibrationSpec
{
    /// <summary>Full path of the calibration data file.</summary>
    public required string Data { get; init; }

    /// <summary>Null: StaticQuantConfig's default.</summary>
    public int? Samples { get; init; }
    public CalibrationMethod? Method { get; init; }
    public required SourceLocation Location { get; init; }
}

public sealed class Fp16Spec
{
    /// <summary>Null: Fp16Config's default.</summary>
    public bool? KeepIoTypes { get; init; }

    /// <summary>Ops kept in float32; null means the default list.</summary>
    public IReadOnlyList<string>? BlockOps { get; init; }
    public required SourceLocation Location { get; init; }
}

public enum PruneMethod
{
    L1Structured,
    L1Unstructured,
    RandomUnstructured,
    GlobalUnstructured,
}

public sealed class PruneSpec
{
    public required PruneMethod Method { get; init; }

    /// <summary>One rate, or a schedule of rates tried in order.</summary>
    public required IReadOnlyList<double> Amounts { get; init; }
    public FinetuneSpec? Finetune { get; init; }

    /// <summary>l1-structured: the norm order ranking channels (PyTorch's ln_structured n; 1 = L1, 2 = L2). Null: PruneConfig's default.</summary>
    public double? Norm { get; init; }

    /// <summary>
    /// l1-structured: kept channel counts rounded to a multiple of this (CPU kernels run channel blocks of 8/16);
    /// 1 = exact. Null: PruneConfig's default.
    /// </summary>
    public int? RoundTo { get; init; }
    public required SourceLocation Location { get; init; }
}

public enum FinetuneOptimizer
{
    Adam,
    Sgd,
}

public enum FinetuneSchedule
{
    /// <summary>Constant learning rate.</summary>
    None,

    /// <summary>Cosine annealing per optimizer step, from the learning rate down to 0 at the last step.</summary>
    Cosine,
}

public enum FinetuneLoss
{
    CrossEntropy,
    Mse,
}

public sealed class FinetuneSpec
{
    public required string Data { get; init; }

    // Keys the manifest leaves out are null: FineTuneSettings holds the one default.
    public int? Epochs { get; init; }
    public int? BatchSize { get; init; }

    /// <summary>Cap on training samples used (the first N); null = all.</summary>
    public int? Samples { get; init; }
    public double? LearningRate { get; init; }
    public FinetuneOptimizer? Optimizer { get; init; }
    public FinetuneLoss? Loss { get; init; }
    public FinetuneSchedule? Schedule { get; init; }

    /// <summary>Weight of the distillation term (the unpruned model as teacher); 0 = labels only.</summary>
    public double? Distill { get; init; }

    /// <summary>Softmax temperature of the distillation term.</summary>
    public double? Temperature { get; init; }
    public required SourceLocation Location { get; init; }
}
