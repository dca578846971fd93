using ModelBuild.CodeGen;
using ModelBuild.Diagnostics;
using ModelBuild.IO;
using ModelBuild.Manifest;
using ModelBuild.Reports;
using ModelBuild.Targets;

namespace ModelBuild.Pipeline;

/// <summary>
/// <c>modelbuild build</c> from top to bottom: read the manifests, run each model's pipeline into a staging
/// folder, write the shared targets and the reports, then move everything into the output folder at once.
/// </summary>
public static class BuildPipeline
{
    public static BuildReport? Run(IReadOnlyList<string> manifestPaths, BuildOptions options, DiagnosticBag diagnostics)
    {
        var timer = new StepTimer(options.Log, options.Cancellation, options.LogStepStarts);
        // Every check that involves several models runs here, the same as in `modelbuild check`, before any model work.
        var manifests = timer.Time("read manifests", () => ManifestSet.Load(manifestPaths, diagnostics, ToolInfo.Version));
        if (manifests is null) return null;

        using var staging = new OutputStaging(options.OutputDirectory);
        var report = new BuildReport
        {
            ToolVersion = ToolInfo.Version.ToNormalizedString(),
            Manifests = manifests.Select(m => Path.GetFileName(m.Path)).ToList(),
        };

        var typed = new List<TypedModel>();
        var engines = new List<TensorRtEngine>();
        foreach (var manifest in manifests)
            foreach (var model in manifest.Models)
            {
                try
                {
                    var pipeline = new ModelPipeline(model, manifest, staging, options, timer, diagnostics);
                    var modelReport = pipeline.Run();
                    report.Models.Add(modelReport);
                    typed.Add(new TypedModel(modelReport.Name, modelReport.Deployed!, pipeline.DeployedInterface!));
                    if (pipeline.Engine is { } engine) engines.Add(engine);
                }
                catch (ModelBuildException e)
                {
                    // Keep going: one run should report the problems of every model, not only the first.
                    diagnostics.Add(e.Diagnostic);
                }
            }

        // Bad input or a crash: leave the output folder exactly as it was.
        if (diagnostics.ExitCode > ExitCode.CheckFailed) return null;

        // One deploy/Dockerfile serves every model: Triton when any model asks for it, else modelbuild serve.
        var models = manifests.SelectMany(m => m.Models).ToList();
        var docker = models.Select(m => m.Deploy.Docker).ToHashSet();
        if (docker.Contains(DockerTarget.Triton))
        {
            staging.WriteText(OutputLayout.Dockerfile, DockerfileWriter.WriteTriton(engines: engines));
            staging.WriteText(OutputLayout.DockerIgnore, DockerIgnoreWriter.WriteTriton(withEngines: engines.Count > 0));
        }
        else if (docker.Contains(DockerTarget.Server))
        {
            staging.WriteText(OutputLayout.Dockerfile, DockerfileWriter.WriteServer(ToolInfo.Version.ToNormalizedString()));
            // The server image copies only the Triton repository too.
            staging.WriteText(OutputLayout.DockerIgnore, DockerIgnoreWriter.WriteTriton());
        }
        var services = models.Where(m => m.Deploy.KServe is not null)
            .Select(m => new KServeWriter.Service(m.Name.Value, m.Deploy.KServe!, m.Deploy.Triton)).ToList();
        if (services.Count > 0)
        {
            try
            {
                staging.WriteText(OutputLayout.KServe, KServeWriter.Write(services));
            }
            catch (ModelBuildException e)
            {
                diagnostics.Add(e.Diagnostic);
                return null;
            }
        }

        report.Passed = !diagnostics.HasErrors;
        // Locations relative to the manifest's folder: the report must not change with where the project lives.
        var baseDir = Path.GetDirectoryName(manifests[0].Path)!;
        foreach (var d in diagnostics)
            report.Diagnostics.Add(new DiagnosticReport(d.Code, d.Severity.ToString().ToLowerInvariant(), d.Message, RelativeLocation(d.Location, baseDir)));
        foreach (var artifact in report.Models.SelectMany(m => m.Artifacts))
            for (var i = 0; i < artifact.Checks.Count; i++)
                if (artifact.Checks[i].At is { } at)
                    artifact.Checks[i] = artifact.Checks[i] with { Location = RelativeLocation(at, baseDir) };
        foreach (var (step, ms) in timer.TotalsMs)
            report.TimingsMs[step] = Math.Round(ms, 1);

        staging.WriteText(OutputLayout.JsonReport, ReportJsonWriter.Write(report));
        staging.WriteText(OutputLayout.MarkdownReport, ReportMarkdownWriter.Write(report));
        staging.WriteText(OutputLayout.HtmlReport, ReportHtmlWriter.Write(report));
        staging.WriteText(OutputLayout.JUnitReport, ReportJUnitWriter.Write(report));
        var inputs = manifests.Select(m => m.Path).Concat(manifests.SelectMany(m => m.ReferencedFiles)).Distinct(StringComparer.Ordinal);
        staging.Commit(inputs);
        // Typed model classes for apps that reference ModelBuild.Runtime. Kept in the state folder, not the
        // outputs list: it is compiled into the app (build/ModelBuild.targets), never copied as content.
        AtomicFile.WriteAllText(Path.Combine(staging.OutputDirectory, OutputStaging.StateFolder, TypedModelWriter.FileName), TypedModelWriter.Write(typed));
        return report;
    }

    private static string? RelativeLocation(SourceLocation? location, string baseDir) =>
        location is null ? null
            : (location with { File = Path.IsPathRooted(location.File) ? Path.GetRelativePath(baseDir, location.File).Replace('\\', '/') : location.File }).ToString();
}
