using ModelBuild.Diagnostics;
using NuGet.Versioning;
using YamlDotNet.RepresentationModel;
using ModelBuild.Onnx;

namespace ModelBuild.Manifest.Loading;

/// <summary>
/// Binds a YAML node tree into <see cref="DeployManifest"/> by hand, so every problem gets the exact location of
/// the key or value at fault. Binding never stops at the first problem; the caller discards the result on errors.
/// </summary>
internal sealed partial class ManifestBinder(YamlNodeReader reader, string directory, NuGetVersion toolVersion)
{
    public const int SupportedSchema = 1;

    public DeployManifest? BindRoot(YamlMappingNode node)
    {
        var root = new YamlMap(reader, node, "at the top level");

        // Schema and tool version come first: a manifest for another schema or a newer tool would otherwise
        // drown the real cause in unknown-key errors.
        var schema = SupportedSchema;
        if (root["schema"] is not { } schemaNode)
        {
            reader.Report(DiagnosticCodes.UnsupportedSchema,
                $"missing 'schema'; add 'schema: {SupportedSchema}' as the first line", node);
        }
        else if (schemaNode is not YamlScalarNode { Value: "1" } || YamlNodeReader.IsNull(schemaNode)
                 || ((YamlScalarNode)schemaNode).Style != YamlDotNet.Core.ScalarStyle.Plain)
        {
            reader.Report(DiagnosticCodes.UnsupportedSchema,
                $"unsupported schema {YamlNodeReader.Describe(schemaNode)}; this ModelBuild ({toolVersion}) supports schema {SupportedSchema}",
                schemaNode);
            return null;
        }

        VersionRange? requires = null;
        if (root["requires"] is { } reqNode && reader.Text(reqNode, "requires") is { } req)
        {
            if (!VersionRangeParser.TryParse(req.Value, out requires))
            {
                reader.Report(DiagnosticCodes.InvalidVersionRange,
                    $"'requires' is not a valid version range: '{req.Value}' (examples: '>= 1.0.0', '[1.0, 2.0)')", reqNode);
            }
            else if (!requires!.Satisfies(toolVersion))
            {
                reader.Report(DiagnosticCodes.ToolVersionNotSatisfied,
                    $"this manifest requires ModelBuild '{req.Value}' ({requires.ToNormalizedString()}), but this is ModelBuild {toolVersion}",
                    reqNode);
                return null;
            }
        }

        root.CheckKeys(ManifestKeys.Root);

        var models = new List<ModelSpec>();
        if (root.Require("models") is { } modelsNode && reader.List(modelsNode, "models") is { } items)
        {
            if (items.Count == 0)
                reader.Report(DiagnosticCodes.InvalidValue, "'models' must list at least one model", modelsNode);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < items.Count; i++)
            {
                if (BindModel(items[i], i) is not { } model) continue;
                if (model.Name.Value.Length > 0 && !seen.Add(model.Name.Value))
                    reader.Report(DiagnosticCodes.DuplicateName,
                        $"duplicate model name '{model.Name.Value}'", model.Name.Location);
                models.Add(model);
            }
            // Preprocessing adds <model>_preprocess and <model>_ensemble to the Triton repository; another model
            // with either name would overwrite that entry.
            foreach (var model in models)
            {
                if (model.Deploy.Triton?.Preprocessing is null) continue;
                foreach (var extra in new[] { DerivedNames.TritonPreprocess(model.Name.Value), DerivedNames.TritonEnsemble(model.Name.Value) })
                {
                    if (models.FirstOrDefault(m => m.Name.Value == extra) is { } clash)
                        reader.Report(DiagnosticCodes.DuplicateName,
                            $"model name '{extra}' is taken: model '{model.Name.Value}' declares triton.preprocessing, which adds '" +
                                $"{extra}' to the Triton repository",
                            clash.Name.Location);
                }
            }
        }

        return new DeployManifest { Path = reader.Path, Schema = schema, Requires = requires, Models = models };
    }

    private ModelSpec? BindModel(YamlNode node, int index)
    {
        if (reader.Map(node, $"models[{index}]", $"in models[{index}]") is not { } map) return null;

        var name = BindName(map, "model");
        if (name.Value.Length > 0) map.Context = $"in model '{name.Value}'";
        var ctx = map.Context;
        map.CheckKeys(ManifestKeys.Model);

        _preprocess = new PreprocessDeclaration();
        var source = map.Require("source") is { } sourceNode ? BindSource(sourceNode, ctx) : null;
        var inputs = map["inputs"] is { } inNode ? BindInputs(inNode, ctx) : null;
        if (map["inputs"] is null && source is { Kind: not ModelSourceKind.Onnx })
            map.Require("inputs", "TorchScript and TorchSharp sources need their input shapes and types declared");
        var outputs = map["outputs"] is { } outNode ? BindOutputs(outNode, ctx) : null;
        if (map["preprocess"] is { } preNode) BindPreprocessBlock(preNode, ctx);
        var export = map["export"] is { } exNode ? BindExport(exNode, ctx, source) : new ExportSpec();
        var variants = map["variants"] is { } vNode ? BindVariants(vNode, name.Value) : [];
        var evaluate = map["evaluate"] is { } evNode ? BindEvaluate(evNode, ctx) : null;
        var checks = map["checks"] is { } chNode ? BindChecks(chNode, ctx, evaluate is not null) : new ChecksSpec();
        var deploy = map["deploy"] is { } dNode
            ? BindDeploy(dNode, ctx, export)
            : new DeploySpec { Variant = new(VariantSpec.BaseName, map.Location) };

        // The one image preprocessing: what evaluation, Triton, /predict and the typed class apply.
        var preprocess = _preprocess.Value
            ?? (evaluate?.Format is EvaluationDataFormat.Images or EvaluationDataFormat.Idx ? new Runtime.ImagePreprocessing() : null);
        if (evaluate is not null) evaluate.Preprocess = preprocess ?? new();
        if (deploy.Triton?.Preprocessing is { } tritonPreprocessing) tritonPreprocessing.Image = preprocess ?? new();

        CheckVariantReferences(variants, deploy);
        CheckKServeName(name, deploy);
        CheckTritonPlatform(source, deploy);
        CheckAccuracyAwareGoals(variants, checks);

        return new ModelSpec
        {
            Name = name,
            Source = source ?? new ModelSource { Kind = ModelSourceKind.Onnx, Location = map.Location },
            Inputs = inputs,
            Outputs = outputs,
            Preprocess = preprocess,
            Export = export,
            Variants = variants,
            Evaluate = evaluate,
            Checks = checks,
            Deploy = deploy,
            Location = map.Location,
        };
    }

    /// <summary>
    /// <c>quantize.accuracy_aware</c> works towards checks.accuracy (which itself needs evaluate data), static or
    /// dynamic: any of min, max_drop, max_drop_percent, scored with evaluate.metric. Checked here, not only when the
    /// pass is planned, so <c>modelbuild check</c> reports it at the key.
    /// </summary>
    private void CheckAccuracyAwareGoals(IReadOnlyList<VariantSpec> variants, ChecksSpec checks)
    {
        foreach (var variant in variants)
        {
            if (variant.Quantize is not { AccuracyAware: true, AccuracyAwareLocation: { } at }) continue;
            if (checks.Accuracy is null)
                reader.Report(DiagnosticCodes.MissingKey,
                    $"'quantize.accuracy_aware' needs checks.accuracy (min, max_drop or max_drop_percent: the goal it keeps nodes in float for) " +
                        $"in variant '{variant.Name.Value}'", at);
        }
    }

    /// <summary>
    /// The InferenceService is named after the model ('_' becoming '-'); Kubernetes would refuse a name that is not a
    /// DNS-1035 label (one ending in '-' or '_', or longer than 63 characters) only at kubectl apply.
    /// </summary>
    private void CheckKServeName(Located<string> name, DeploySpec deploy)
    {
        if (deploy.KServe is null || name.Value.Length == 0) return;
        var service = DerivedNames.KServeService(name.Value);
        if (!DerivedNames.IsValidKServeService(service))
            reader.Report(DiagnosticCodes.InvalidValue,
                $"model name '{name.Value}' becomes InferenceService '{service}" +
                    $"', which Kubernetes refuses: a DNS-1035 label is at most {DerivedNames.MaxKServeServiceLength}" +
                    $" characters, lower-case letters, digits and '-', and can't end in '-' or '_'; rename the model or leave deploy.kserve off",
                name.Location);
    }

    /// <summary>
    /// Triton's libtorch backend serves the re-saved TorchScript, which exists only for a TorchScript source and is
    /// served by Triton only (the deploy binder checks export.torchscript and the deployed variant).
    /// </summary>
    private void CheckTritonPlatform(ModelSource? source, DeploySpec deploy)
    {
        if (deploy.Triton is not { Platform: TritonBackendKind.PyTorch } triton) return;
        var at = triton.PlatformLocation ?? triton.Location;
        string? problem = null;
        if (source is not null && source.Kind != ModelSourceKind.TorchScript)
            problem = "needs a TorchScript (.pt) source";
        else if (deploy.Docker == DockerTarget.Server)
            problem = "can't be served by 'docker: server' (ONNX Runtime); use 'docker: triton'";
        if (problem is not null)
            reader.Report(DiagnosticCodes.InvalidValue, $"'deploy.triton.platform: pytorch' {problem}", at);
    }

    /// <summary>Reads and checks <c>name</c> of a model or variant; the empty string when missing or bad.</summary>
    private Located<string> BindName(YamlMap map, string kind)
    {
        if (map.Require("name") is not { } node || reader.String(node, "name") is not { } name)
            return new("", map.Location);
        if (!NameRules.IsValid(name.Value))
        {
            reader.Report(DiagnosticCodes.InvalidName,
                $"invalid {kind} name '{name.Value}'; names must match " +
                    $"{NameRules.PatternText} (lower-case letter first, then lower-case letters, digits, '_' or '-')",
                node);
            return new("", name.Location);
        }
        return name;
    }

    private ModelSource? BindSource(YamlNode node, string ctx)
    {
        var at = reader.At(node);
        if (node is YamlMappingNode)
        {
            if (reader.Map(node, "source", $"in 'source' {ctx}") is not { } map) return null;
            map.CheckKeys(ManifestKeys.Source);
            if (map.Require("torchsharp") is not { } tsNode
                || reader.Map(tsNode, "source.torchsharp", $"in 'source.torchsharp' {ctx}") is not { } ts)
                return null;
            ts.CheckKeys(ManifestKeys.TorchSharp);
            var assembly = ts.Require("assembly") is { } a ? FilePath(a, "source.torchsharp.assembly", [".dll"]) : null;
            var type = ts.Require("type") is { } t ? reader.Text(t, "source.torchsharp.type") : null;
            var weights = ts["weights"] is { } w ? FilePath(w, "source.torchsharp.weights", []) : null;
            return new ModelSource
            {
                Kind = ModelSourceKind.TorchSharp,
                TorchSharp = new TorchSharpSource(assembly ?? "", type?.Value ?? "", weights),
                Location = at,
            };
        }

        if (reader.Text(node, "source") is not { } text) return null;
        var kind = Path.GetExtension(text.Value).ToLowerInvariant() switch
        {
            ".onnx" => ModelSourceKind.Onnx,
            ".pt" or ".pth" => ModelSourceKind.TorchScript,
            _ => (ModelSourceKind?)null,
        };
        if (kind is null)
        {
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'source' must be an .onnx, .pt or .pth file or {{ torchsharp: {{ assembly, type, weights }} }}, got '{text.Value}'",
                node);
            return null;
        }
        return new ModelSource { Kind = kind.Value, Path = FilePath(node, "source", []), Location = at };
    }

    private List<TensorSpec>? BindInputs(YamlNode node, string ctx)
    {
        if (reader.List(node, "inputs") is not { } items) return null;
        if (items.Count == 0)
            reader.Report(DiagnosticCodes.InvalidValue, "'inputs' must list at least one input (or be left out)", node);
        var result = new List<TensorSpec>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            if (reader.Map(items[i], $"inputs[{i}]", $"in inputs[{i}] {ctx}") is not { } map) continue;
            map.CheckKeys(ManifestKeys.Input);
            var name = map.Require("name") is { } n ? reader.Text(n, "inputs.name") : null;
            if (name is { } nm && !seen.Add(nm.Value))
                reader.Report(DiagnosticCodes.DuplicateName, $"duplicate input name '{nm.Value}' {ctx}", nm.Location);
            var shape = map.Require("shape") is { } s ? BindShape(s) : null;
            var dtype = map["dtype"] is { } d ? reader.Enum(d, "dtype", EnumNames.DType) : null;
            result.Add(new TensorSpec
            {
                Name = name ?? new("", map.Location),
                Shape = shape ?? [],
                DType = dtype ?? TensorElementType.Float32,
                Range = map["range"] is { } r ? BindRange(r, "inputs.range", allowEqual: true) : null,
                BatchAxis = map["batch_axis"] is { } b ? BindBatchAxis(b, shape?.Count ?? 0) : null,
                Location = map.Location,
            });
        }
        return result;
    }

    private List<Dimension>? BindShape(YamlNode node)
    {
        if (reader.List(node, "shape") is not { } items) return null;
        var dims = new List<Dimension>();
        foreach (var item in items)
        {
            if (item is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } s
                && s.Value is { Length: > 0 } v && (char.IsDigit(v[0]) || v[0] is '-' or '+'))
            {
                if (reader.Integer(item, "shape", min: 1) is { } size) dims.Add(Dimension.Fixed(size));
            }
            else if (item is YamlScalarNode sc && !YamlNodeReader.IsNull(item) && NameRules.IsAxisName(sc.Value ?? ""))
            {
                dims.Add(Dimension.Dynamic(sc.Value!));
            }
            else
            {
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"shape entries must be positive integers (fixed sizes) or identifiers (named dynamic axes such as 'batch'), " +
                        $"got {YamlNodeReader.Describe(item)}",
                    item);
            }
        }
        return dims;
    }

    private List<OutputSpec>? BindOutputs(YamlNode node, string ctx)
    {
        if (reader.List(node, "outputs") is not { } items) return null;
        var result = new List<OutputSpec>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            if (reader.Map(items[i], $"outputs[{i}]", $"in outputs[{i}] {ctx}") is not { } map) continue;
            map.CheckKeys(ManifestKeys.Output);
            var name = map.Require("name") is { } n ? reader.Text(n, "outputs.name") : null;
            if (name is { } nm && !seen.Add(nm.Value))
                reader.Report(DiagnosticCodes.DuplicateName, $"duplicate output name '{nm.Value}' {ctx}", nm.Location);
            var range = map["range"] is { } r ? BindRange(r, "outputs.range", allowEqual: false) : null;
            result.Add(new OutputSpec { Name = name ?? new("", map.Location), Range = range, Location = map.Location });
        }
        return result;
    }

    /// <summary><c>batch_axis</c>: an axis of the declared shape, or <c>none</c>.</summary>
    private int? BindBatchAxis(YamlNode node, int rank)
    {
        if (node is YamlScalarNode { Value: "none" }) return TensorSpec.NoBatchAxis;
        if (rank == 0)
        {
            reader.Report(DiagnosticCodes.InvalidValue, "'batch_axis' of a scalar input can only be 'none'", node);
            return null;
        }
        return reader.Integer(node, "inputs.batch_axis (an axis of 'shape', or none)", min: 0, max: rank - 1) is { } axis ? (int)axis : null;
    }

    /// <summary>A <c>[min, max]</c> pair; an input's range may be one value (<c>[1, 1]</c>: a constant input).</summary>
    private (double, double)? BindRange(YamlNode r, string what, bool allowEqual)
    {
        if (reader.List(r, what) is not { } bounds) return null;
        if (bounds.Count != 2)
        {
            reader.Report(DiagnosticCodes.InvalidValue, $"'range' must be [min, max], got {bounds.Count} value(s)", r);
            return null;
        }
        if (reader.Number(bounds[0], "range min") is not { } lo || reader.Number(bounds[1], "range max") is not { } hi) return null;
        if (lo < hi || allowEqual && lo == hi) return (lo, hi);
        reader.Report(DiagnosticCodes.InvalidValue, $"'range' min ({lo}) must be less than {(allowEqual ? "or equal to " : "")}max ({hi})", r);
        return null;
    }

    private ExportSpec BindExport(YamlNode node, string ctx, ModelSource? source)
    {
        if (reader.Map(node, "export", $"in 'export' {ctx}") is not { } map) return new ExportSpec();
        map.CheckKeys(ManifestKeys.Export);
        var opset = 17;
        if (map["onnx"] is { } onnxNode && reader.Map(onnxNode, "export.onnx", $"in 'export.onnx' {ctx}") is { } onnx)
        {
            onnx.CheckKeys(ManifestKeys.ExportOnnx);
            if (onnx["opset"] is { } o && reader.Int(o, "export.onnx.opset", 7, 25) is { } requested)
            {
                // An ONNX source is deployed as it is; no pass changes its opset, so the value would be ignored.
                if (source is { Kind: ModelSourceKind.Onnx })
                    reader.Report(DiagnosticCodes.InvalidValue,
                        "'export.onnx.opset' sets the opset a TorchScript or TorchSharp source is exported with; " +
                            "an ONNX source is deployed with the opset it was saved with (see modelbuild inspect), so remove the key",
                        o);
                else
                    opset = requested;
            }
        }
        var torchscript = false;
        if (map["torchscript"] is { } tsNode)
        {
            torchscript = reader.Bool(tsNode, "export.torchscript") ?? false;
            if (torchscript && source is { Kind: ModelSourceKind.Onnx })
                reader.Report(DiagnosticCodes.InvalidValue,
                    "'export.torchscript: true' needs a TorchScript source; an ONNX model can't be turned back into TorchScript",
                    tsNode);
            else if (torchscript && source is { Kind: ModelSourceKind.TorchSharp })
                reader.Report(DiagnosticCodes.InvalidValue,
                    "'export.torchscript: true' needs a TorchScript source; TorchSharp can neither trace nor script a C# module",
                    tsNode);
        }
        var arguments = new Dictionary<string, object>(StringComparer.Ordinal);
        if (map["arguments"] is { } argNode && reader.Map(argNode, "export.arguments", $"in 'export.arguments' {ctx}") is { } args)
        {
            if (source is { Kind: not ModelSourceKind.TorchScript })
                reader.Report(DiagnosticCodes.InvalidValue,
                    "'export.arguments' sets forward()'s flags of a TorchScript source; this model's source is not TorchScript", argNode);
            foreach (var (keyNode, valueNode) in args.Node.Children)
            {
                if (keyNode is not YamlScalarNode { Value: { } name } || YamlNodeReader.IsNull(keyNode)) continue; // reported by YamlMap
                if (!IsIdentifier(name))
                {
                    reader.Report(DiagnosticCodes.InvalidValue, $"'export.arguments' keys are forward() argument names, got '{name}'", keyNode);
                    continue;
                }
                if (ArgumentValue(valueNode, name) is { } v) arguments[name] = v;
            }
        }
        return new ExportSpec { OnnxOpset = opset, TorchScript = torchscript, Arguments = arguments };
    }

    /// <summary>A flag value: true/false, an integer or a number (plain YAML scalars only).</summary>
    private object? ArgumentValue(YamlNode node, string name)
    {
        if (node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: { } text } && !YamlNodeReader.IsNull(node))
        {
            if (text is "true" or "True" or "TRUE" or "false" or "False" or "FALSE") return reader.Bool(node, $"export.arguments.{name}");
            if (text.Length > 0 && (char.IsDigit(text[0]) || text[0] is '-' or '+' or '.'))
                return text.IndexOfAny(['.', 'e', 'E']) < 0
                    ? (object?)reader.Integer(node, $"export.arguments.{name}")
                    : reader.Number(node, $"export.arguments.{name}");
        }
        reader.Report(DiagnosticCodes.InvalidValue,
            $"'export.arguments.{name}' must be true, false, an integer or a number, got {YamlNodeReader.Describe(node)}", node);
        return null;
    }

    private static bool IsIdentifier(string s) =>
        s.Length > 0 && (char.IsLetter(s[0]) || s[0] == '_') && s.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_');

    /// <summary>
    /// A path relative to the manifest's folder, resolved to a full path; reports a wrong extension (MB1004) or a
    /// missing file (MB1008). Backslashes are accepted so a manifest written on Windows works everywhere.
    /// </summary>
    private string? FilePath(YamlNode node, string what, string[] extensions)
    {
        if (reader.Text(node, what) is not { } text) return null;
        var raw = text.Value.Replace('\\', '/');
        var ext = Path.GetExtension(raw).ToLowerInvariant();
        if (extensions.Length > 0 && !extensions.Contains(ext))
        {
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'{what}' must be a {string.Join(" or ", extensions)} file, got '{text.Value}'", node);
            return null;
        }
        string full;
        try
        {
            full = Path.GetFullPath(Path.Combine(directory, raw));
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            reader.Report(DiagnosticCodes.InvalidValue, $"'{what}' is not a valid path: '{text.Value}'", node);
            return null;
        }
        if (!File.Exists(full))
            reader.Report(DiagnosticCodes.FileNotFound, $"file not found: '{text.Value}' (looked for {full})", node);
        return full;
    }
}
