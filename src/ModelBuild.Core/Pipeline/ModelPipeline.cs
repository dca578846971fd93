using System.Globalization;
using ModelBuild.Checks;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.IO;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Targets;
using ModelBuild.Targets.Tflite;
using ModelBuild.TorchScript;
using ModelBuild.TorchScript.Conversion;
using ModelBuild.Results;

namespace ModelBuild.Pipeline;

/// <summary>
/// Everything done for one model of the manifest, top to bottom:
/// source → base export → variants (passes) → evaluate every artifact → checks → pick the deployed artifact → targets.
/// </summary>
public sealed class ModelPipeline(ModelSpec spec, DeployManifest manifest, OutputStaging staging, BuildOptions options,
    StepTimer timer, DiagnosticBag diagnostics)
{
    private string Name => spec.Name.Value;

    /// <summary>The deployed artifact's real interface (variants may change it, e.g. fp16 without keep_io_types); set by <see cref="Run"/>.</summary>
    public ModelInterface? DeployedInterface { get; private set; }

    /// <summary>After <see cref="Run"/>: the TensorRT engine the Dockerfile must build for this model, if any.</summary>
    public TensorRtEngine? Engine { get; private set; }

    public ModelReport Run()
    {
        // Refuse what this version cannot do before spending time on the model.
        foreach (var variant in spec.Variants) PassPlanner.Plan(variant, spec, options.FineTuner, options.EvaluationBatch);

        // One instance of a TorchSharp module serves both the export and the reference, so they see the same weights.
        using var torchSharp = spec.Source.Kind == ModelSourceKind.TorchSharp && options.Torch is { } backend
            ? timer.Time($"[{Name}] load TorchSharp module", () => backend.OpenTorchSharp(spec.Source.TorchSharp!, spec.Source.Location))
            : null;
        var source = timer.Time($"[{Name}] load source", () => SourceModel.Load(spec, Path.Combine(staging.StagingDirectory, ".work"), torchSharp));
        var report = new ModelReport
        {
            Name = Name,
            Source = Relative(spec.Source.Path ?? source.OnnxPath),
            SourceKind = spec.Source.Kind.ToString().ToLowerInvariant(),
            Inputs = source.Interface.Inputs.Select(ToReport).ToList(),
            Outputs = source.Interface.Outputs.Select(ToReport).ToList(),
            Preprocess = spec.Preprocess,
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
        // What is sliced into samples follows the manifest's batch_axis where it says so.
        var run = source.Interface with { Inputs = EvaluationSet.WithDeclaredBatchAxes(source.Interface.Inputs, spec.Inputs) };
        var set = timer.Time($"[{Name}] load evaluation data", () =>
            EvaluationSet.Create(spec.Evaluate, run, manifest.Directory, options.SyntheticSamples, options.Seed,
                spec.Evaluate is null ? EvaluationSet.GeneratedRanges(spec.Inputs, source.IndexLimits) : null, spec.Inputs,
                spec.Evaluate is null ? WordPieceTokenizer.Beside(spec.Source.Path) : null));
        var metric = spec.Evaluate?.Metric ?? MetricKind.Cosine;
        // top1/top5 score only against labels; a configured accuracy check must not pass for want of a score.
        if (spec.Checks.Accuracy is not null && metric is MetricKind.Top1 or MetricKind.Top5 && set.Labels is null)
            throw new ModelBuildException(DiagnosticCodes.DataMismatch,
                $"model '{Name}': checks.accuracy needs a {metric.ToString().ToLowerInvariant()} score, but the evaluation data " +
                $"({set.Description}) has no labels; " +
                "add labels to it, or use metric mae or cosine to score against the source model's outputs",
                spec.Evaluate?.DataKey ?? spec.Location);
        var evaluator = new ArtifactEvaluator(set, run, metric, options.EvaluationBatch, options.IntraOpThreads, options.Cancellation, options.Log,
            options.LatencySeconds);
        var reference = timer.Time($"[{Name}] run source model", () => RunSourceOn(set, () => RunReference(evaluator, source, report, torchSharp)));
        if (set.IsSynthetic) WarnIfUninformative(reference, set);
        if (spec.Export.TorchScript)
            timer.Time($"[{Name}] export torchscript", () => ExportTorchScript(set));
        var latencyBatch = LatencyBatch(run);

        foreach (var artifact in report.Artifacts)
            timer.Time($"[{Name}] evaluate {artifact.Name}", () =>
            {
                try
                {
                    // Base is timed alone; each variant beside base (compare variants with base).
                    evaluator.Measure(artifact, artifactPaths[artifact.Name], reference, latencyBatch,
                        LocationOf(artifact.Name), spec.Checks.Latency?.Location,
                        timeLatency: artifact == report.Artifacts[0]);
                }
                catch (ModelBuildException e) when (e.Diagnostic.Code == DiagnosticCodes.RuntimeRejectedModel && artifact.Passes.Count > 0)
                {
                    // The source loaded; a pass made what ONNX Runtime refuses. That is ModelBuild's fault, not the model's.
                    throw new ModelBuildException(DiagnosticCodes.PassProducedInvalidModel,
                        $"model '{Name}', variant '{artifact.Name}': the passes {string.Join(" → ", artifact.Passes)} " +
                        $"produced a model ONNX Runtime refuses ({e.Diagnostic.Message}). " +
                        $"This is a defect in ModelBuild, not in your model: please report it with the model; " +
                        "meanwhile remove the variant or change its options", LocationOf(artifact.Name), e);
                }
            });

        timer.Time($"[{Name}] compare variants with base", () => CompareWithBase(report, artifactPaths, set, latencyBatch));

        var primary = source.Interface.Outputs[0].Name;
        var sourceScore = Scorer.Score(metric, reference[primary], reference[primary], set.Labels, set.DataLocation ?? spec.Source.Location);
        report.Evaluation = new EvaluationReport
        {
            Data = set.Description,
            Samples = set.Count,
            Metric = metric.ToString().ToLowerInvariant(),
            SourceScore = sourceScore,
        };

        // 3. Checks and the deployed artifact.
        var deployed = SelectDeployed(report, metric, sourceScore, artifactPaths, source.Interface);
        report.Deployed = deployed.Name;
        DeployedInterface = ModelInterfaceReader.Read(OnnxModelFile.Load(artifactPaths[deployed.Name], LocationOf(deployed.Name)),
            LocationOf(deployed.Name));

        // 4. Deployment targets for the deployed artifact.
        timer.Time($"[{Name}] write deployment targets", () =>
            Engine = DeploymentWriter.Write(spec, DeployedInterface, artifactPaths[deployed.Name], staging));

        // 5. TFLite for Android, from the deployed artifact, judged like it by an independent TFLite runtime when one is set.
        if (spec.Deploy.Tflite is { } tflite)
            timer.Time($"[{Name}] write TFLite", () =>
                report.Tflite = WriteTflite(tflite, deployed, artifactPaths[deployed.Name], set, evaluator, reference, metric, sourceScore));
        return report;
    }

    private TfliteReport WriteTflite(TfliteSpec tflite, ArtifactReport deployed, string onnxPath, EvaluationSet set, ArtifactEvaluator evaluator,
        IReadOnlyDictionary<string, NdArray> reference, MetricKind metric, double? sourceScore)
    {
        var relative = deployed.Name == VariantSpec.BaseName ? OutputLayout.BaseTfliteModel(Name) : OutputLayout.TfliteModel(Name, deployed.Name);
        var location = spec.Deploy.MobileLocation ?? spec.Deploy.Location ?? spec.Location;
        // The probe that fixes shapes runs the first evaluation sample: real token ids stay inside embedding tables.
        var probeBatch = BatchedRunner.BatchSizeFor(DeployedInterface!, 1);
        var export = TfliteExporter.Write(onnxPath, staging.PathFor(relative), tflite, location, set.Take(probeBatch, location));
        static TensorReport Io(TfliteIoTensor t) => new(t.Name, t.Type.ToString().ToLowerInvariant(), t.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)).ToList());
        var result = new TfliteReport
        {
            Path = relative,
            From = deployed.Name,
            Layout = tflite.Layout.ToString().ToLowerInvariant(),
            Io = tflite.Io.ToString().ToLowerInvariant(),
            SizeBytes = export.SizeBytes,
            OnnxSizeBytes = deployed.SizeBytes,
            Int8Ops = export.QuantizedOps,
            FloatOps = export.FloatOps,
            Inputs = export.Inputs.Select(Io).ToList(),
            Outputs = export.Outputs.Select(Io).ToList(),
        };
        options.Log.Info($"modelbuild: [{Name}] TFLite: {relative}, {export.SizeBytes:N0} bytes ({result.SizeRatio:0.###} × the ONNX artifact), " +
                         $"{export.QuantizedOps} int8 and {export.FloatOps} float ops");
        if (TfliteRuntime.FromEnvironment() is not { } runtime)
        {
            result.NotChecked = $"no TFLite runtime runs inside a .NET build; set {TfliteRuntime.EnvironmentVariable} to a command that runs " +
                                "TFLite files to hold this file to its parent's checks (docs/deploy-mobile.md)";
            return result;
        }
        IReadOnlyDictionary<string, NdArray> outputs;
        try
        {
            outputs = runtime.Run(export, set.Take(set.Count, location));
        }
        catch (TfliteRuntimeException e)
        {
            result.NotChecked = $"the TFLite runtime {e.Message}";
            diagnostics.Warning(DiagnosticCodes.TfliteRuntimeFailed, $"model '{Name}': {relative} was written but not checked: {result.NotChecked}",
                location);
            return result;
        }
        var judged = new ArtifactReport
        {
            Name = $"{deployed.Name} (TFLite)", Path = relative, From = deployed.Name, Lossless = deployed.Lossless, SizeBytes = export.SizeBytes,
        };
        evaluator.Compare(judged, outputs, reference, location);
        CheckRunner.Judge(judged, spec, metric, sourceScore, isDeploymentCandidate: false);
        foreach (var failure in CheckRunner.Failures(Name, judged))
            diagnostics.Add(failure);
        result.CheckedBy = runtime.Name;
        result.Judged = judged;
        options.Log.Info($"modelbuild: [{Name}] TFLite checked by {runtime.Name}: max |diff| {CheckRunner.Format(judged.ParityMaxAbs ?? 0)}" +
                         (judged.Score is { } sc ? $", {metric.ToString().ToLowerInvariant()} {CheckRunner.Format(sc)}" : ""));
        return result;
    }

    /// <summary>
    /// The outputs every artifact is compared with: PyTorch's own (libtorch runs the TorchScript source, called with
    /// the same flag values the export was specialized with; or the TorchSharp module's C# forward), so the converted
    /// base export is held to checks.parity too; else the ONNX source's.
    /// </summary>
    private IReadOnlyDictionary<string, NdArray> RunReference(ArtifactEvaluator evaluator, SourceModel source,
        ModelReport report, ITorchSharpModel? torchSharp)
    {
        if (torchSharp is not null)
        {
            report.ParityReference = "torchsharp";
            return evaluator.RunReference(torchSharp);
        }
        if (spec.Source.Kind == ModelSourceKind.TorchScript)
        {
            if (options.Torch is { } torch)
            {
                var call = TorchScriptToOnnx.ForwardArguments(
                    TorchScriptReader.Read(spec.Source.Path!, spec.Source.Location), ConversionOptions.FromManifest(spec));
                using var reference = torch.Open(spec.Source.Path!, spec.Source.Location, call);
                report.ParityReference = "pytorch";
                return evaluator.RunReference(reference);
            }
            diagnostics.Warning(DiagnosticCodes.TorchRuntimeUnavailable,
                $"model '{Name}': libtorch is not available, so the converted model is not compared with PyTorch's own outputs",
                spec.Source.Location);
        }
        report.ParityReference = "onnx source";
        return evaluator.Run(source.OnnxPath, spec.Source.Location);
    }

    /// <summary>
    /// A model that refuses generated inputs (a sample rate it does not know, a length its front end cannot take) is told
    /// what the generated inputs were and which keys choose them, at the inputs.
    /// </summary>
    private T RunSourceOn<T>(EvaluationSet set, Func<T> run)
    {
        try { return run(); }
        catch (ModelBuildException e) when (set.IsSynthetic && e.Diagnostic.Code is DiagnosticCodes.DataMismatch
            or DiagnosticCodes.RuntimeRejectedModel)
        {
            throw new ModelBuildException(e.Diagnostic.Code,
                $"{e.Diagnostic.Message} — these inputs were generated ({set.Description}) because there is no evaluate data: " +
                "declare inputs with a value range (inputs[].range, e.g. [16000, 16000] for a sample rate) or example sizes " +
                "(a number in inputs[].shape where the model's axis is dynamic), or give evaluate.data",
                spec.Inputs is { Count: > 0 } inputs ? inputs[0].Location : spec.Source.Location, e);
        }
    }

    /// <summary>
    /// Generated inputs can leave a model idle (a detector fed noise whose score map is all zero): then every artifact
    /// "matches" the source and no comparison means anything. Say so, where the inputs are declared.
    /// </summary>
    private void WarnIfUninformative(IReadOnlyDictionary<string, NdArray> reference, EvaluationSet set)
    {
        foreach (var (name, values) in reference)
        {
            var v = values.ToDoubles();
            if (v.Length < 2) continue; // one value (a fixed-batch-1 score) cannot show that it never changes
            string what;
            if (v.All(x => x == v[0]))
                what = $"is {v[0].ToString("G6", System.Globalization.CultureInfo.InvariantCulture)} everywhere";
            else if (values.Shape is [>= 2, ..] && set.Count == values.Shape[0] && SameForEverySample(v, (int)values.Shape[0]))
                what = "is the same for every sample";
            else continue;
            diagnostics.Warning(DiagnosticCodes.UninformativeReference,
                $"model '{Name}': output '{name}' of the source model {what} on the generated inputs ({set.Description}), " +
                "so parity and the variants' comparisons prove nothing for it; give evaluate.data, or inputs[].range and inputs[].shape " +
                "sizes that make the model respond",
                spec.Inputs is { Count: > 0 } inputs ? inputs[0].Location : spec.Source.Location);
        }
    }

    private static bool SameForEverySample(double[] values, int samples)
    {
        var size = values.Length / samples;
        for (var i = size; i < values.Length; i++)
            if (values[i] != values[i % size]) return false;
        return true;
    }

    /// <summary><c>export.torchscript</c>: the source re-saved by libtorch in eval mode, reloaded and verified on evaluation samples.</summary>
    private void ExportTorchScript(EvaluationSet set)
    {
        if (options.Torch is not { } torch)
            throw new ModelBuildException(DiagnosticCodes.TorchRuntimeUnavailable,
                $"model '{Name}': export.torchscript needs libtorch, which is not available to this run", spec.Source.Location);
        var samples = set.Take(Math.Min(2, set.Count));
        var inputs = (spec.Inputs ?? Array.Empty<TensorSpec>()).Select(i => samples[i.Name.Value]).ToList();
        torch.Resave(spec.Source.Path!, staging.PathFor(OutputLayout.TorchScriptModel(Name)), new[] { inputs }, spec.Source.Location);
    }

    private void BuildVariant(VariantSpec variant, Dictionary<string, string> artifactPaths, ModelReport report)
    {
        var parent = VariantOrder.ParentOf(variant);
        var passes = PassPlanner.Plan(variant, spec, options.FineTuner, options.EvaluationBatch);
        var input = artifactPaths[parent];
        var output = OutputLayout.VariantModel(Name, variant.Name.Value);
        var outputPath = staging.PathFor(output);
        var outcome = PassChain.Run(passes, input, outputPath, Name, variant.Name.Value, options.Cancellation, options.Log);
        artifactPaths[variant.Name.Value] = outputPath;
        var parentLossless = report.Artifacts.First(a => a.Name == parent).Lossless;
        foreach (var note in outcome.Notes) options.Log.Info($"modelbuild: [{Name}] {variant.Name.Value}: {note}");
        foreach (var warning in outcome.Warnings.Distinct())
            diagnostics.Warning(DiagnosticCodes.VariantChangesNothing, $"model '{Name}', variant '{variant.Name.Value}': {warning}",
                variant.Location);
        report.Artifacts.Add(new ArtifactReport
        {
            Name = variant.Name.Value,
            Path = output,
            From = parent,
            Passes = passes.Select(p => p.Name).ToList(),
            Lossless = parentLossless && passes.All(p => p.IsLossless),
            PassNotes = outcome.Notes.ToList(),
            LayerErrors = outcome.LayerErrors
                .Select(e => new LayerErrorReport(e.Node, e.OpType, e.Tensor, Math.Round(e.Cosine, 6),
                    Math.Round(e.RelativeError, 6), Math.Round(e.Added, 6)))
                .ToList(),
            KeptFloat = outcome.KeptFloat
                .Select(k => new KeptFloatReport(k.Node, k.OpType, k.Reason, k.FloatMicroseconds, k.Int8Microseconds, k.Detail))
                .ToList(),
            Pruning = outcome.Pruning?.ToReport(),
        });
    }

    /// <summary>
    /// Each variant's size and latency relative to base, the figures a quantization or pruning target is stated in.
    /// A variant's latency is measured beside base (alternating blocks) and shown on base's scale, so its p50 over
    /// base's p50 in the report is exactly the ratio printed beside it.
    /// </summary>
    private void CompareWithBase(ModelReport report, IReadOnlyDictionary<string, string> artifactPaths, EvaluationSet set, int latencyBatch)
    {
        var baseReport = report.Artifacts[0];
        // A variant that is base byte for byte (a pass with nothing to do) is base: base's figures without timing it.
        var baseBytes = File.ReadAllBytes(artifactPaths[baseReport.Name]);
        var same = report.Artifacts.Skip(1).Where(v => v.SizeBytes == baseBytes.Length && File.ReadAllBytes(artifactPaths[v.Name]).AsSpan()
            .SequenceEqual(baseBytes)).ToList();
        foreach (var v in same)
        {
            v.VsBase = new BaseComparisonReport(1, 1);
            v.Latency = baseReport.Latency;
        }
        var variants = report.Artifacts.Skip(1).Except(same).ToList();
        if (variants.Count == 0) return;
        var paired = new PairedLatency(options.IntraOpThreads, secondsPerVariant: options.LatencySeconds).Compare(artifactPaths[baseReport.Name],
            variants.Select(v => artifactPaths[v.Name]).ToList(), set.Take(latencyBatch, spec.Checks.Latency?.Location ?? spec.Source.Location),
            latencyBatch, spec.Source.Location, options.Cancellation);
        foreach (var (artifact, result) in variants.Zip(paired))
        {
            artifact.Latency = ArtifactEvaluator.ToReport(result.OnBaseScale(baseReport.Latency!.P50Ms));
            artifact.VsBase = new BaseComparisonReport(
                Math.Round((double)artifact.SizeBytes / Math.Max(1, baseReport.SizeBytes), 4), Math.Round(result.P50Ratio, 3));
        }
    }

    /// <summary>
    /// A named variant is judged and deployed as is. <c>best</c> judges every artifact as a candidate and deploys
    /// the fastest (p50) that passes every check; the others' failures are then information, not errors.
    /// </summary>
    private ArtifactReport SelectDeployed(ModelReport report, MetricKind metric, double? sourceScore,
        IReadOnlyDictionary<string, string> artifactPaths, ModelInterface modelInterface)
    {
        var wanted = spec.Deploy.Variant.Value;
        var best = wanted == DeploySpec.BestVariant;
        foreach (var artifact in report.Artifacts)
        {
            CheckRunner.Judge(artifact, spec, metric, sourceScore, isDeploymentCandidate: best || artifact.Name == wanted);
            DeploymentChecklist.Judge(artifact, artifactPaths[artifact.Name], spec, modelInterface);
        }

        if (!best)
        {
            foreach (var artifact in report.Artifacts)
                foreach (var failure in CheckRunner.Failures(Name, artifact))
                    diagnostics.Add(failure);
            return report.Artifacts.First(a => a.Name == wanted);
        }

        var chosen = report.Artifacts.Where(a => a.Passed).OrderBy(a => a.Latency!.P50Ms).FirstOrDefault();
        if (chosen is not null)
        {
            options.Log.Info($"modelbuild: [{Name}] deploy: best = {chosen.Name} (p50 {CheckRunner.Format(chosen.Latency!.P50Ms)} ms)");
            // What the deployed artifact breaks at severity: warning is still worth a warning (and -warnaserror).
            foreach (var warning in CheckRunner.Failures(Name, chosen))
                diagnostics.Add(warning);
            return chosen;
        }
        var reasons = report.Artifacts.Select(a => $"{a.Name}: {string.Join("; ", a.Checks.Where(c => !c.Passed).Select(c => c.Message))}");
        diagnostics.Error(DiagnosticCodes.NoVariantPassed,
            $"model '{Name}': deploy.variant is 'best' but no artifact passes every check ({string.Join(" | ", reasons)})",
            spec.Deploy.Variant.Location);
        return report.Artifacts[0];
    }

    /// <summary>Where an artifact's problems are reported: the variant that produced it, or the source for base.</summary>
    private SourceLocation LocationOf(string artifact) =>
        spec.Variants.FirstOrDefault(v => v.Name.Value == artifact)?.Name.Location ?? spec.Source.Location;

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
