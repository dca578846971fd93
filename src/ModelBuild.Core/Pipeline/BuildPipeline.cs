using ModelBuild.CodeGen;
using ModelBuild.Diagnostics;
using ModelBuild.IO;
using ModelBuild.Manifest;
using ModelBuild.Reports;
using ModelBuild.Targets;
using ModelBuild.Results;

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

        // Every file the manifests name, which the output must never overwrite.
        var inputs = new RunInputs(manifests.SelectMany(m =>
            m.Models.SelectMany(model => model.ReferencedFiles).Prepend((m.Path, new SourceLocation(m.Path)))));
        if (!SparesInputs(manifests, inputs, Path.GetFullPath(options.OutputDirectory), diagnostics)) return null;
        using var staging = OpenStaging(options.OutputDirectory, diagnostics);
        if (staging is null) return null;
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
                    typed.Add(new TypedModel(modelReport.Name, modelReport.Deployed!, pipeline.DeployedInterface!, modelReport.Preprocess));
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
        // ManifestSet has already refused models whose InferenceService names clash (MB1007).
        if (services.Count > 0) staging.WriteText(OutputLayout.KServe, KServeWriter.Write(services));

        report.Passed = !diagnostics.HasErrors;
        // Locations relative to the manifest's folder: the report must not change with where the project lives.
        var baseDir = Path.GetDirectoryName(manifests[0].Path)!;
        foreach (var d in diagnostics)
            report.Diagnostics.Add(new DiagnosticReport(d.Code, d.Severity.ToString().ToLowerInvariant(), d.Message,
                RelativeLocation(d.Location, baseDir)));
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
        try
        {
            staging.Commit(inputs);
        }
        catch (ModelBuildException e)
        {
            diagnostics.Add(e.Diagnostic);
            return null;
        }
        // Typed model classes for apps that reference ModelBuild.Runtime. Kept in the state folder, not the
        // outputs list: it is compiled into the app (build/ModelBuild.targets), never copied as content.
        AtomicFile.WriteAllText(Path.Combine(staging.OutputDirectory, OutputStaging.StateFolder, TypedModelWriter.FileName),
            TypedModelWriter.Write(typed));
        return report;
    }

    private static OutputStaging? OpenStaging(string outputDirectory, DiagnosticBag diagnostics)
    {
        try
        {
            return new OutputStaging(outputDirectory);
        }
        catch (ModelBuildException e)
        {
            diagnostics.Add(e.Diagnostic);
            return null;
        }
    }

    /// <summary>
    /// Refuses, before any model work, an output folder where the layout would put an artifact or report on top of
    /// a file the build reads (<c>--out .</c> with <c>source: models/m/model.onnx</c>). Files the layout names only
    /// late (deployment targets) are guarded again when the outputs are moved into place.
    /// </summary>
    private static bool SparesInputs(IReadOnlyList<DeployManifest> manifests, RunInputs inputs, string outputDirectory, DiagnosticBag diagnostics)
    {
        var spared = true;
        foreach (var relative in PlannedOutputs(manifests.SelectMany(m => m.Models)))
        {
            var path = Path.Combine(outputDirectory, relative);
            if (inputs.Find(path) is not { } location) continue;
            diagnostics.Error(DiagnosticCodes.OutputWriteFailed,
                $"the build would write '{relative}' over '{path}', a file it reads; choose another output folder", location);
            spared = false;
        }
        return spared;
    }

    private static IEnumerable<string> PlannedOutputs(IEnumerable<ModelSpec> models)
    {
        foreach (var model in models)
        {
            var name = model.Name.Value;
            yield return OutputLayout.BaseModel(name);
            // Only files this model's settings write: a TorchScript source at models/<m>/model.pt is not
            // overwritten unless export.torchscript is on.
            if (model.Export.TorchScript) yield return OutputLayout.TorchScriptModel(name);
            var ort = model.Deploy.Writes(MobileFormat.Ort);
            var tflite = model.Deploy.Writes(MobileFormat.Tflite);
            if (ort) yield return OutputLayout.BaseMobileModel(name);
            if (tflite) yield return OutputLayout.BaseTfliteModel(name);
            foreach (var variant in model.Variants.Select(v => v.Name.Value).Prepend(VariantSpec.BaseName))
            {
                yield return OutputLayout.VariantModel(name, variant);
                // With deploy.variant: best any variant may be the one converted, so each is a candidate.
                if (ort) yield return OutputLayout.MobileModel(name, variant);
                if (tflite) yield return OutputLayout.TfliteModel(name, variant);
            }
            yield return OutputLayout.TritonConfig(name);
            yield return OutputLayout.TritonModel(name);
        }
        foreach (var shared in new[] { OutputLayout.JsonReport, OutputLayout.MarkdownReport, OutputLayout.HtmlReport, OutputLayout.JUnitReport,
                     OutputLayout.Dockerfile, OutputLayout.DockerIgnore, OutputLayout.KServe })
            yield return shared;
    }

    private static string? RelativeLocation(SourceLocation? location, string baseDir) =>
        location is null ? null
            : (location with
            {
                File = Path.IsPathRooted(location.File) ? Path.GetRelativePath(baseDir, location.File).Replace('\\', '/') : location.File
            }).ToString();
}
