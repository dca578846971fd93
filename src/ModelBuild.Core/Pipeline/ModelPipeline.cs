using ModelBuild.Checks;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.IO;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Reports;
using ModelBuild.Targets;

namespace ModelBuild.Pipeline;

/// <summary>
/// Everything done for one model of the manifest, top to bottom:
/// source → base export → variants (passes) → evaluate every artifact → checks → pick the deployed artifact → targets.
/// </summary>
public sealed class ModelPipeline(ModelSpec spec, DeployManifest manifest, OutputStaging staging, BuildOptions options, StepTimer timer, DiagnosticBag diagnostics)
{
    private string Name => spec.Name.Value;

    /// <summary>After <see cref="Run"/>: the TensorRT engine the Dockerfile must build for this model, if any.</summary>
    public TensorRtEngine? Engine { get; private set; }

    public ModelReport Run()
    {
        // Refuse what this version cannot do before spending time on the model.
        foreach (var variant in spec.Variants) PassPlanner.Plan(variant);
        DeploymentWriter.Preflight(spec);

        var source = timer.Time($"[{Name}] load source", () => SourceModel.Load(spec));
        var report = new ModelReport
        {
            Name = Name,
            Source = Relative(source.OnnxPath),
            SourceKind = spec.Source.Kind.ToString().ToLowerInvariant(),
            Inputs = source.Interface.Inputs.Select(ToReport).ToList(),
            Outputs = source.Interface.Outputs.Select(ToReport).ToList(),
        };

        // 1. Artifacts: the base export, then each variant from the artifact it names.
        var artifactPaths = new Dictionary<string, string>(StringComparer.Ordinal);
        timer.Time($"[{Name}] export base", () =>
        {
            var basePath = OutputLayout.BaseModel(Name);
            staging.CopyFile(source.OnnxPath, basePath);
            artifactPaths[VariantSpec.BaseName] = staging.PathFor(basePath);
            report.Artifacts.Add(new ArtifactReport { Name = VariantSpec.BaseName, Path = basePath, Lossless = true });
        });
        foreach (var variant in VariantOrder.Sort(spec.Variants))
            timer.Time($"[{Name}] build variant {variant.Name.Value}", () => BuildVariant(variant, artifactPaths, report));

        // 2. Evaluation: the source model's outputs are the reference every artifact is compared with.
        var set = timer.Time($"[{Name}] load evaluation data", () =>
            EvaluationSet.Create(spec.Evaluate, source.Interface, manifest.Directory, options.SyntheticSamples, options.Seed));
        var metric = spec.Evaluate?.Metric ?? MetricKind.Cosine;
        var evaluator = new ArtifactEvaluator(set, source.Interface, metric, options.EvaluationBatch, options.IntraOpThreads, options.Cancellation);
        var reference = timer.Time($"[{Name}] run source model", () => evaluator.Run(source.OnnxPath, spec.Source.Location));
        var latencyBatch = LatencyBatch(source.Interface);

        foreach (var artifact in report.Artifacts)
            timer.Time($"[{Name}] evaluate {artifact.Name}", () =>
                evaluator.Measure(artifact, artifactPaths[artifact.Name], reference, latencyBatch, spec.Source.Location));

        var primary = source.Interface.Outputs[0].Name;
        var sourceScore = Scorer.Score(metric, reference[primary], reference[primary], set.Labels, spec.Source.Location);
        report.Evaluation = new EvaluationReport
        {
            Data = set.Description,
            Samples = set.Count,
            Metric = metric.ToString().ToLowerInvariant(),
            SourceScore = sourceScore,
        };

        // 3. Checks and the deployed artifact.
        var deployed = SelectDeployed(report, metric, sourceScore);
        report.Deployed = deployed.Name;

        // 4. Deployment targets for the deployed artifact.
        timer.Time($"[{Name}] write deployment targets", () =>
            Engine = DeploymentWriter.Write(spec, source.Interface, artifactPaths[deployed.Name], staging));
        return report;
    }

    private void BuildVariant(VariantSpec variant, Dictionary<string, string> artifactPaths, ModelReport report)
    {
        var parent = VariantOrder.ParentOf(variant);
        var passes = PassPlanner.Plan(variant);
        var input = artifactPaths[parent];
        var output = OutputLayout.VariantModel(Name, variant.Name.Value);
        var outputPath = staging.PathFor(output);
        var temps = new List<string>();
        try
        {
            foreach (var (pass, index) in passes.Select((p, i) => (p, i)))
            {
                options.Cancellation.ThrowIfCancellationRequested();
                var target = index == passes.Count - 1 ? outputPath : AtomicFile.TempPathFor(outputPath);
                if (target != outputPath) temps.Add(target);
                pass.Run(new PassContext(input, target, Name, variant.Name.Value, options.Cancellation));
                input = target;
            }
        }
        finally
        {
            foreach (var t in temps) File.Delete(t);
        }
        artifactPaths[variant.Name.Value] = outputPath;
        var parentLossless = report.Artifacts.First(a => a.Name == parent).Lossless;
        report.Artifacts.Add(new ArtifactReport
        {
            Name = variant.Name.Value,
            Path = output,
            From = parent,
            Passes = passes.Select(p => p.Name).ToList(),
            Lossless = parentLossless && passes.All(p => p.IsLossless),
        });
    }

    /// <summary>
    /// A named variant is judged and deployed as is. <c>best</c> judges every artifact as a candidate and deploys
    /// the fastest (p50) that passes every check; the others' failures are then information, not errors.
    /// </summary>
    private ArtifactReport SelectDeployed(ModelReport report, MetricKind metric, double? sourceScore)
    {
        var wanted = spec.Deploy.Variant.Value;
        var best = wanted == DeploySpec.BestVariant;
        foreach (var artifact in report.Artifacts)
            CheckRunner.Judge(artifact, spec.Checks, metric, sourceScore, isDeploymentCandidate: best || artifact.Name == wanted);

        if (!best)
        {
            foreach (var artifact in report.Artifacts)
                foreach (var failure in CheckRunner.Failures(Name, artifact, spec.Checks))
                    diagnostics.Add(failure);
            return report.Artifacts.First(a => a.Name == wanted);
        }

        var chosen = report.Artifacts.Where(a => a.Passed).OrderBy(a => a.Latency!.P50Ms).FirstOrDefault();
        if (chosen is not null)
        {
            options.Log.Info($"modelbuild: [{Name}] deploy: best = {chosen.Name} (p50 {CheckRunner.Format(chosen.Latency!.P50Ms)} ms)");
            return chosen;
        }
        var reasons = report.Artifacts.Select(a => $"{a.Name}: {string.Join("; ", a.Checks.Where(c => !c.Passed).Select(c => c.Message))}");
        diagnostics.Error(DiagnosticCodes.NoVariantPassed,
            $"model '{Name}': deploy.variant is 'best' but no artifact passes every check ({string.Join(" | ", reasons)})",
            spec.Deploy.Variant.Location);
        return report.Artifacts[0];
    }

    /// <summary>The latency batch: checks.latency.batch (default 1); a model with a fixed batch axis takes only its own.</summary>
    private int LatencyBatch(ModelInterface model)
    {
        var requested = spec.Checks.Latency?.Batch ?? 1;
        var fixedBatch = BatchedRunner.BatchSizeFor(model, requested);
        if (fixedBatch != requested && spec.Checks.Latency is { } latency)
            throw new ModelBuildException(DiagnosticCodes.InvalidValue,
                $"checks.latency.batch is {requested} but model '{Name}' takes a fixed batch of {fixedBatch}", latency.Location);
        return fixedBatch;
    }

    private string Relative(string path) => Path.GetRelativePath(manifest.Directory, path).Replace('\\', '/');

    private static TensorReport ToReport(TensorInfo t) =>
        new(t.Name, OnnxTypes.ManifestName(t.ElementType), t.Dims.Select(d => d.ToString()).ToList());
}
