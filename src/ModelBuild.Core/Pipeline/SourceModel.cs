using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;
using ModelBuild.TorchScript;
using ModelBuild.TorchScript.Conversion;
using Onnx;

namespace ModelBuild.Pipeline;

/// <summary>The model a manifest entry names, brought into ONNX and checked against what the manifest declares.</summary>
/// <param name="IndexLimits">For integer inputs that index a table in the graph: the table's size (see
/// <see cref="InputValueBounds"/>), read while the model is loaded so generated inputs need no second read.</param>
public sealed record SourceModel(string OnnxPath, ModelInterface Interface, IReadOnlyDictionary<string, long> IndexLimits)
{
    /// <param name="workDir">Where a converted model is written (the run's private staging folder, removed after the run).</param>
    /// <param name="torchSharp">The loaded module of a TorchSharp source (see <see cref="ITorchBackend.OpenTorchSharp"/>).</param>
    public static SourceModel Load(ModelSpec spec, string? workDir = null, ITorchSharpModel? torchSharp = null)
    {
        var location = spec.Source.Location;
        if (spec.Source.Kind == ModelSourceKind.TorchScript)
            return FromTorchScript(spec, TorchScriptReader.Read(spec.Source.Path!, location), workDir);
        if (spec.Source.Kind == ModelSourceKind.TorchSharp)
        {
            if (torchSharp is null)
                throw new ModelBuildException(DiagnosticCodes.TorchRuntimeUnavailable,
                    $"model '{spec.Name.Value}': a TorchSharp source needs libtorch, which is not available to this run (run 'modelbuild build')",
                    location);
            return FromConverted(spec, torchSharp.ToOnnx(ConversionOptions.FromManifest(spec)), $"TorchSharp module {spec.Source.TorchSharp!.Type}",
                workDir);
        }
        if (spec.Source.Kind != ModelSourceKind.Onnx)
            throw new ModelBuildException(DiagnosticCodes.UnsupportedModelSource,
                $"{spec.Source.Kind} sources are not supported by this version of ModelBuild yet; export the model to ONNX and name the .onnx file",
                location);

        var path = spec.Source.Path!;
        var model = OnnxModelFile.Load(path, location);
        if (SortedCopy(model, spec, workDir) is { } sorted) path = sorted;
        OnnxModelValidator.Validate(model, path, location);
        var modelInterface = ModelInterfaceReader.Read(model, location);
        CheckDeclaredInterface(spec, modelInterface);
        return new SourceModel(path, modelInterface, InputValueBounds.IndexLimits(model));
    }

    /// <summary>
    /// Converts a TorchScript archive with the manifest's inputs, outputs and opset, writes the ONNX next to other
    /// temporary files, and holds it to the same checks as an ONNX source (structure, ONNX Runtime, interface).
    /// </summary>
    public static SourceModel FromTorchScript(ModelSpec spec, TorchScriptArchive archive, string? workDir = null)
    {
        LibtorchCompatibility.Check(archive, spec.Source.Location);
        var model = TorchScriptToOnnx.Convert(archive, ConversionOptions.FromManifest(spec));
        return FromConverted(spec, model, $"'{archive.Path}'", workDir);
    }

    /// <summary>
    /// ONNX requires nodes in topological order, but exporters (and hand edits) sometimes write them out of order and
    /// ONNX Runtime loads such files anyway. Sorting keeps the model's meaning, so a model out of order is sorted into
    /// a copy in the work folder (returned) instead of refused; null when it was in order already.
    /// </summary>
    private static string? SortedCopy(ModelProto model, ModelSpec spec, string? workDir)
    {
        // A copy elsewhere would lose weights kept in files beside the model (external data).
        if (model.Graph.Initializer.Any(t => t.DataLocation == TensorProto.Types.DataLocation.External)) return null;
        var before = model.Graph.Node.ToList();
        try { new GraphEditor(model).TopologicalSort(); }
        catch (InvalidOperationException) { return null; } // a cycle: the validator names the node
        if (before.SequenceEqual(model.Graph.Node, ReferenceEqualityComparer.Instance)) return null;
        return WriteToWorkDir(model, spec, workDir, "-sorted");
    }

    /// <summary>Writes a model the run made (converted, sorted) into the work folder, under a fresh name.</summary>
    private static string WriteToWorkDir(ModelProto model, ModelSpec spec, string? workDir, string suffix = "")
    {
        workDir ??= Path.Combine(Path.GetTempPath(), "modelbuild-" + Environment.ProcessId);
        Directory.CreateDirectory(workDir);
        var path = Path.Combine(workDir, $"{spec.Name.Value}{suffix}-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
        return path;
    }

    private static SourceModel FromConverted(ModelSpec spec, ModelProto model, string what, string? workDir)
    {
        var location = spec.Source.Location;
        var path = WriteToWorkDir(model, spec, workDir);
        OnnxModelValidator.Validate(model, path, location);
        try
        {
            using var runner = new ModelRunner(path, location);
        }
        catch (ModelBuildException e)
        {
            // ONNX Runtime names the graph input whose type an op refuses: that is the manifest's declared dtype
            // disagreeing with what the model computes on, not the converter.
            if (spec.Inputs?.FirstOrDefault(i => e.Message.Contains($"of input parameter ({i.Name.Value})", StringComparison.Ordinal)) is { } input)
                throw new ModelBuildException(DiagnosticCodes.ModelInterfaceMismatch,
                    $"input '{input.Name.Value}' is declared {input.DType.ToString().ToLowerInvariant()}, " +
                    $"which the model's first operations cannot take " +
                    $"(ONNX Runtime: {OnnxRuntimeTypeError(e.Message)}); declare the dtype forward expects", input.Location, e);
            throw new ModelBuildException(DiagnosticCodes.UnsupportedTorchScript,
                $"the ONNX converted from {what} does not load in ONNX Runtime (a converter bug; please report it): {e.Message}", location, e);
        }
        var modelInterface = ModelInterfaceReader.Read(model, location);
        CheckDeclaredInterface(spec, modelInterface);
        return new SourceModel(path, modelInterface, InputValueBounds.IndexLimits(model));
    }

    /// <summary>The "Type Error: …" sentence of an ONNX Runtime load failure, or its whole message.</summary>
    private static string OnnxRuntimeTypeError(string message)
    {
        var at = message.IndexOf("Type Error:", StringComparison.Ordinal);
        return at < 0 ? message : message[at..].Trim();
    }

    /// <summary>Declared inputs and outputs are a promise the app relies on: hold the model to it.</summary>
    private static void CheckDeclaredInterface(ModelSpec spec, ModelInterface actual)
    {
        if (spec.Inputs is { } declared)
        {
            var actualNames = string.Join(", ", actual.Inputs.Select(i => i.ToString()));
            if (declared.Count != actual.Inputs.Count)
                throw Mismatch($"the manifest declares {declared.Count} input(s) but the model has {actual.Inputs.Count}: {actualNames}",
                    declared.FirstOrDefault()?.Location ?? spec.Location);
            foreach (var input in declared)
            {
                var match = actual.Inputs.FirstOrDefault(i => i.Name == input.Name.Value)
                    ?? throw Mismatch($"the model has no input '{input.Name.Value}'; its inputs are {actualNames}", input.Name.Location);
                if (match.ElementType != input.DType)
                    throw Mismatch($"input '{match.Name}' is {OnnxTypes.ManifestName(match.ElementType)} in the model, not " +
                        $"{OnnxTypes.ManifestName(input.DType)}", input.Location);
                if (!ShapesAgree(input.Shape, match.Dims))
                    throw Mismatch($"input '{match.Name}' has shape [{string.Join(",", match.Dims)}] in the model, " +
                        $"not [{string.Join(",", input.Shape)}] " +
                        "(declare the model's fixed sizes as they are; where the model's axis is dynamic, a name keeps it dynamic and a number is " +
                        "the example size for generated inputs)", input.Location);
            }
        }
        if (spec.Outputs is { } outputs)
            foreach (var output in outputs)
                if (actual.Outputs.All(o => o.Name != output.Name.Value))
                    throw Mismatch($"the model has no output '{output.Name.Value}'; its outputs are " +
                        $"{string.Join(", ", actual.Outputs.Select(o => o.Name))}", output.Name.Location);
    }

    /// <summary>Fixed sizes must be equal; a dynamic axis in the manifest matches any dynamic axis in the model; a fixed
    /// size where the model's axis is dynamic is the example size generated inputs and latency runs use.</summary>
    private static bool ShapesAgree(IReadOnlyList<Dimension> declared, IReadOnlyList<Dimension> actual) =>
        declared.Count == actual.Count && declared.Zip(actual).All(p => p.Second.IsDynamic || !p.First.IsDynamic && p.First.Size == p.Second.Size);

    private static ModelBuildException Mismatch(string message, SourceLocation location) =>
        new(DiagnosticCodes.ModelInterfaceMismatch, message, location);
}
