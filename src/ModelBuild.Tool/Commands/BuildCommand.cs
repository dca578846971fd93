using System.CommandLine;
using ModelBuild.Diagnostics;
using ModelBuild.Pipeline;
using ModelBuild.Tool.Torch;

namespace ModelBuild.Tool.Commands;

/// <summary><c>modelbuild build [deploy.yaml] --out DIR</c>: the whole pipeline.</summary>
internal static class BuildCommand
{
    public static Command Create()
    {
        var manifests = ManifestArguments.Create();
        var output = new Option<DirectoryInfo>("--out", "-o")
        {
            Description = "Output folder (models/, deploy/, reports).",
            DefaultValueFactory = _ => new DirectoryInfo("modelbuild-out"),
        };
        var threads = new Option<int>("--threads")
        {
            Description = "ONNX Runtime intra-op threads for evaluation and latency (default 1: stable numbers).",
            DefaultValueFactory = _ => 1,
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print diagnostics only, no progress lines." };
        var stepStarts = new Option<bool>("--step-starts") { Description = "Print a line as each step starts (for the " +
            "MSBuild task).", Hidden = true };
        // Set by the MSBuild task: the project building, and whether it references ModelBuild.Torch (libtorch for the build).
        var project = new Option<FileInfo?>("--msbuild-project") { Description = "The project file of the dotnet build that " +
            "runs the tool.", Hidden = true };
        var torchPackage = new Option<bool>("--torch-package") { Description = "The project references ModelBuild.Torch.", Hidden = true };
        var command = new Command("build", "Run the whole pipeline: export, variants, evaluation, checks, deployment targets, reports.")
        {
            manifests, output, threads, quiet, stepStarts, project, torchPackage,
        };
        // On a worker thread: System.CommandLine turns SIGINT/SIGTERM into this token only while the action's task
        // is pending, and a synchronous body would let the signal's default action kill the process mid-write.
        command.SetAction((parse, cancellation) => Task.Run(() => CommandRunner.Run(() =>
        {
            var diagnostics = new DiagnosticBag();
            diagnostics.Reported += CommandRunner.Report;
            var outDir = parse.GetValue(output)!.FullName;
            var paths = ManifestArguments.Resolve(parse.GetValue(manifests));
            // libtorch loads only when a model needs it (TorchScript/TorchSharp source, export.torchscript, fine-tuning).
            var torch = new OnDemandTorch(parse.GetValue(project) is { } csproj
                ? TorchSettings.ForProject(csproj.FullName, parse.GetValue(torchPackage))
                : TorchSettings.ForCommandLine());
            BuildOptions Options(IBuildLog log) => new()
            {
                OutputDirectory = outDir,
                IntraOpThreads = Math.Max(1, parse.GetValue(threads)),
                Log = log,
                Cancellation = cancellation,
                LogStepStarts = parse.GetValue(stepStarts),
                Torch = torch,
                FineTuner = torch,
            };
            // Bars on a terminal; plain lines when redirected (MSBuild, CI logs) so the output stays parseable.
            var report = ProgressBuildLog.ShouldUse(parse.GetValue(quiet))
                ? ProgressBuildLog.Run(log => BuildPipeline.Run(paths, Options(log), diagnostics))
                : BuildPipeline.Run(paths, Options(parse.GetValue(quiet) ? new NullBuildLog() : new ConsoleBuildLog(Console.Out)), diagnostics);
            if (report is not null && !parse.GetValue(quiet))
                SummaryTable.Print(report, Console.Out, outDir);
            return diagnostics.ExitCode;
        }), CancellationToken.None));
        return command;
    }
}
