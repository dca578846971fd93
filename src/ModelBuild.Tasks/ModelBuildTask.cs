using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using ModelBuild.Diagnostics;

namespace ModelBuild.Tasks;

/// <summary>
/// Runs <c>modelbuild build</c> in its own process through the .NET host. ToolTask gives us, for free: the
/// canonical-format parser that turns <c>deploy.yaml(12,7): error MB3002: …</c> lines into real MSBuild errors
/// with file, line, column and code; killing the whole process tree when the build is cancelled; and timeouts.
/// </summary>
public sealed class ModelBuildTask : ToolTask
{
    /// <summary>The manifests to build together into <see cref="OutputDirectory"/>.</summary>
    [Required]
    public ITaskItem[] Manifests { get; set; } = Array.Empty<ITaskItem>();

    [Required]
    public string OutputDirectory { get; set; } = "";

    /// <summary>The tool's entry assembly (modelbuild.dll).</summary>
    [Required]
    public string ToolAssembly { get; set; } = "";

    /// <summary>Folders the tool searches for TorchSharp and libtorch (the NuGet packages folder).</summary>
    public string[] ProbingPaths { get; set; } = Array.Empty<string>();

    /// <summary>The project being built, named in the remedy when a model needs libtorch and it has no ModelBuild.Torch.</summary>
    public string? ProjectFile { get; set; }

    /// <summary>The project references ModelBuild.Torch: the tool may use the libtorch that package restored.</summary>
    public bool TorchPackage { get; set; }

    /// <summary>ONNX Runtime intra-op threads for evaluation.</summary>
    public int Threads { get; set; } = 1;

    /// <summary>The dotnet host; the SDK sets DOTNET_HOST_PATH for tasks.</summary>
    public string? DotnetHostPath { get; set; }

    /// <summary>
    /// The app's output folder. When checks fail (exit 1) the build stops before the content copy, so the run's
    /// reports are copied there directly: bin/ must not keep the last passing run's report.
    /// </summary>
    public string? ReportDirectory { get; set; }

    /// <summary>
    /// Where a successful run's warnings are kept (deleted when there are none): a later build that skips the tool
    /// replays them (<see cref="ModelBuildReplayWarnings"/>), so they never vanish and -warnaserror keeps failing.
    /// </summary>
    public string? WarningsFile { get; set; }

    private readonly List<string> _warnings = new();

    protected override string ToolName => "dotnet";

    // Progress lines and per-step timings appear at `-v:n`; errors are parsed from any stream.
    protected override MessageImportance StandardOutputLoggingImportance => MessageImportance.Normal;
    protected override MessageImportance StandardErrorLoggingImportance => MessageImportance.High;
    protected override Encoding StandardOutputEncoding => Encoding.UTF8;
    protected override Encoding StandardErrorEncoding => Encoding.UTF8;

    protected override string GenerateFullPathToTool()
    {
        if (!string.IsNullOrEmpty(DotnetHostPath)) return DotnetHostPath!;
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return string.IsNullOrEmpty(fromSdk) ? ToolName : fromSdk!;
    }

    protected override string GenerateCommandLineCommands()
    {
        var builder = new CommandLineBuilder();
        builder.AppendSwitch("exec");
        foreach (var probe in ProbingPaths.Where(p => !string.IsNullOrWhiteSpace(p)))
            builder.AppendSwitchIfNotNull("--additionalprobingpath ", probe.TrimEnd('/', '\\'));
        builder.AppendFileNameIfNotNull(ToolAssembly);
        builder.AppendSwitch("build");
        foreach (var manifest in Manifests)
            builder.AppendFileNameIfNotNull(manifest.GetMetadata("FullPath"));
        builder.AppendSwitchIfNotNull("--out ", OutputDirectory.TrimEnd('/', '\\'));
        builder.AppendSwitchIfNotNull("--threads ", Threads.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.AppendSwitch("--step-starts");
        builder.AppendSwitchIfNotNull("--msbuild-project ", ProjectFile);
        if (TorchPackage) builder.AppendSwitch("--torch-package");
        return builder.ToString();
    }

    /// <summary>Printed by the tool when a step starts (ModelBuild.Pipeline.StepTimer.StartPrefix).</summary>
    private const string StepStartPrefix = "modelbuild: step started: ";

    private string? _currentStep;
    private bool _cancelled;

    protected override int ExecuteTool(string pathToTool, string responseFileCommands, string commandLineCommands)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var exitCode = base.ExecuteTool(pathToTool, responseFileCommands, commandLineCommands);
        if (exitCode == 1) CopyReports();
        if (exitCode == 0 && !string.IsNullOrEmpty(WarningsFile)) KeepWarnings();
        if (_hostFailure is not null)
            Log.LogError(null, DiagnosticCodes.ToolNotStarted, null, null, 0, 0, 0, 0,
                "The modelbuild tool cannot start:{0} Its files in the NuGet packages folder are incomplete: delete that " +
                "package folder and restore again.",
                _hostFailure.ToString());
        // ToolTask kills a tool that outlives Timeout and then fails the task with only a warning (MSB5002) and
        // MSB4181; say what happened, and where, as an error.
        if (!_cancelled && Timeout != System.Threading.Timeout.Infinite && watch.ElapsedMilliseconds >= Timeout && !Log.HasLoggedErrors)
            Log.LogError(null, DiagnosticCodes.ToolCrashed, null, null, 0, 0, 0, 0,
                "modelbuild was stopped after running longer than ModelBuildTimeout ({0} ms) in step '{1}'; no artifact of this run was kept.",
                Timeout, _currentStep ?? "startup");
        return exitCode;
    }

    private void KeepWarnings()
    {
        try
        {
            if (_warnings.Count == 0) File.Delete(WarningsFile!);
            else File.WriteAllLines(WarningsFile!, _warnings);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.LogWarning(null, DiagnosticCodes.TaskFileNotKept, null, null, 0, 0, 0, 0, "The run's warnings could not be kept in '{0}' for later " +
                "builds: {1}", WarningsFile, e.Message);
        }
    }

    private void CopyReports()
    {
        if (string.IsNullOrEmpty(ReportDirectory) || !Directory.Exists(OutputDirectory)) return;
        try
        {
            Directory.CreateDirectory(ReportDirectory!);
            foreach (var report in Directory.GetFiles(OutputDirectory, "modelbuild-report.*"))
                File.Copy(report, Path.Combine(ReportDirectory!, Path.GetFileName(report)), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.LogWarning(null, DiagnosticCodes.TaskFileNotKept, null, null, 0, 0, 0, 0, "The failed run's reports could not be copied to '{0}': " +
                "{1}", ReportDirectory, e.Message);
        }
    }

    public override void Cancel()
    {
        _cancelled = true;
        base.Cancel();
    }

    protected override void LogEventsFromTextOutput(string singleLine, MessageImportance messageImportance)
    {
        // Step starts only matter if the tool dies in that step; keep them out of the normal log.
        if (singleLine.StartsWith(StepStartPrefix, StringComparison.Ordinal))
        {
            _currentStep = singleLine.Substring(StepStartPrefix.Length).Trim();
            base.LogEventsFromTextOutput(singleLine, MessageImportance.Low);
            return;
        }
        if (singleLine.Contains(": warning MB", StringComparison.Ordinal)) _warnings.Add(singleLine.Trim());
        // The .NET host could not start the tool: a file its deps.json names is missing (a damaged package folder).
        // The host spreads the package, version and path over the following lines; they are gathered into one
        // MB9003 when the tool has exited.
        if (_hostFailure is not null || singleLine.Contains("application dependencies manifest", StringComparison.Ordinal))
        {
            (_hostFailure ??= new StringBuilder()).Append(' ').Append(singleLine.Trim());
            return;
        }
        // The host's bare "Error:" line would become an error without a message.
        if (singleLine.Trim() == "Error:")
        {
            base.LogEventsFromTextOutput(singleLine, MessageImportance.Low);
            return;
        }
        base.LogEventsFromTextOutput(singleLine, messageImportance);
    }

    private StringBuilder? _hostFailure;

    /// <summary>
    /// The tool reports every failure it can see as an MB error. A non-zero exit with no error means it died
    /// without a word: a native crash in libtorch or ONNX Runtime, the OOM killer. Say so, naming the step.
    /// </summary>
    protected override bool HandleTaskExecutionErrors()
    {
        if (_cancelled || Log.HasLoggedErrors) return base.HandleTaskExecutionErrors();
        Log.LogError(null, DiagnosticCodes.ToolCrashed, null, null, 0, 0, 0, 0,
            "modelbuild crashed ({0}) during step '{1}'; no artifact of this run was kept. Run `dotnet build -v:n` to see the tool's output.",
            DescribeExit(ExitCode), _currentStep ?? "startup");
        return false;
    }

    private static string DescribeExit(int code)
    {
        // On Unix the host reports death by signal N as 128 + N.
        var signal = code switch
        {
            134 => "SIGABRT", 137 => "SIGKILL", 139 => "SIGSEGV", 136 => "SIGFPE", 135 => "SIGBUS", 132 => "SIGILL",
            _ => null,
        };
        return signal is null ? $"exit code {code}" : $"exit code {code}, {signal}";
    }

    protected override bool ValidateParameters()
    {
        if (!File.Exists(ToolAssembly))
        {
            Log.LogError(null, DiagnosticCodes.ToolNotStarted, null, null, 0, 0, 0, 0, "The modelbuild tool was not found at '{0}'. Restore the " +
                "ModelBuild package again.", ToolAssembly);
            return false;
        }
        return base.ValidateParameters();
    }
}
