namespace ModelBuild.Diagnostics;

/// <summary>
/// Every diagnostic code ModelBuild emits. The thousands digit is the class, and the class fixes the exit code:
/// MB1xxx manifest and MB2xxx model/data problems are bad input (exit 2), MB3xxx are failed checks (exit 1),
/// MB9xxx are internal errors (exit 3). docs/diagnostics.md lists them for users; keep both in step.
/// The one list: ModelBuild.Tasks compiles this file too (it cannot reference the engine), so it holds constants only.
/// </summary>
public static class DiagnosticCodes
{
    // MB1xxx — the manifest (deploy.yaml).
    public const string YamlSyntax = "MB1001";
    public const string UnsupportedSchema = "MB1002";
    public const string UnknownKey = "MB1003";
    public const string InvalidValue = "MB1004";
    public const string MissingKey = "MB1005";
    public const string InvalidName = "MB1006";
    public const string DuplicateName = "MB1007";
    public const string FileNotFound = "MB1008";
    public const string ToolVersionNotSatisfied = "MB1009";
    public const string InvalidVersionRange = "MB1010";
    public const string UnknownVariantReference = "MB1011";
    public const string ManifestTooComplex = "MB1013";
    public const string ManifestNotFound = "MB1014";
    public const string PathEscapesRoot = "MB1015";

    // MB2xxx — models and data named by the manifest.
    public const string ModelUnreadable = "MB2001";
    public const string ModelInvalid = "MB2002";
    public const string RuntimeRejectedModel = "MB2003";
    public const string ModelInterfaceMismatch = "MB2004";
    public const string DataUnreadable = "MB2010";
    public const string DataMismatch = "MB2011";
    public const string UnsupportedModelSource = "MB2020";
    public const string UnsupportedTorchScript = "MB2021";
    public const string VariantChangesNothing = "MB2031";
    public const string PassFailed = "MB2030";
    public const string OutputWriteFailed = "MB2040";
    /// <summary>TorchSharp's native libraries cannot be loaded on this system (e.g. a missing GLIBCXX version).</summary>
    public const string TorchRuntimeUnavailable = "MB2050";

    /// <summary>deploy.mobile tflite: an operator or attribute the TFLite writer cannot express (named with its node).</summary>
    public const string TfliteUnsupported = "MB2060";

    /// <summary>Warning: the TFLite runtime named by MODELBUILD_TFLITE_RUNTIME could not run a written file, so it is unchecked.</summary>
    public const string TfliteRuntimeFailed = "MB2061";

    // MB3xxx — checks and thresholds.
    public const string ParityFailed = "MB3001";
    public const string AccuracyBelowMinimum = "MB3002";
    public const string AccuracyDropTooLarge = "MB3003";
    public const string LatencyOverBudget = "MB3004";
    public const string SizeOverBudget = "MB3005";
    public const string OutputNotFinite = "MB3006";
    public const string NoVariantPassed = "MB3007";
    public const string ChecklistFailed = "MB3008";
    public const string OutputOutOfRange = "MB3009";
    public const string UninformativeReference = "MB3010";
    public const string SimilarityTooLow = "MB3011";

    // MB9xxx — bugs and crashes inside ModelBuild.
    public const string Internal = "MB9001";
    public const string Cancelled = "MB9002";
    /// <summary>The MSBuild task cannot find or start the tool (a damaged package folder).</summary>
    public const string ToolNotStarted = "MB9003";
    /// <summary>The tool died without a word (a native crash, the OOM killer) or outlived ModelBuildTimeout.</summary>
    public const string ToolCrashed = "MB9004";
    /// <summary>The MSBuild task could not keep the run's warnings or copy a failed run's reports (warning).</summary>
    public const string TaskFileNotKept = "MB9005";
    public const string PassProducedInvalidModel = "MB9006";
}
