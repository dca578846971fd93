using System.Text.RegularExpressions;
using ModelBuild.Diagnostics;
using YamlDotNet.RepresentationModel;
using ModelBuild.Onnx;

namespace ModelBuild.Manifest.Loading;

internal sealed partial class ManifestBinder
{
    private DeploySpec BindDeploy(YamlNode node, string ctx, ExportSpec export)
    {
        if (reader.Map(node, "deploy", $"in 'deploy' {ctx}") is not { } map)
            return new DeploySpec { Variant = new(VariantSpec.BaseName, reader.At(node)) };
        map.CheckKeys(ManifestKeys.Deploy);

        var variant = new Located<string>(VariantSpec.BaseName, map.Location);
        if (map["variant"] is { } v && reader.Text(v, "deploy.variant") is { } name) variant = name;
        var triton = map["triton"] is { } t ? BindTriton(t, ctx) : null;
        var docker = map["docker"] is { } d ? reader.Enum(d, "deploy.docker", EnumNames.Docker) : null;
        var kserve = map["kserve"] is { } k ? BindKServe(k, ctx) : null;
        var mobile = map["mobile"] is { } m ? BindMobile(m) : [];
        var tflite = mobile.Contains(MobileFormat.Tflite) ? BindTflite(map["tflite"], map.Location) : null;
        if (map["tflite"] is { } tfliteNode && !mobile.Contains(MobileFormat.Tflite))
            reader.Report(DiagnosticCodes.InvalidValue, $"'deploy.tflite' sets up a TFLite file, but 'mobile' does not list tflite {ctx}",
                map.KeyNode("tflite")!);

        if (triton is { Platform: TritonBackendKind.TensorRt } && map["triton"] is { } tNode)
        {
            // The engine is built by the Dockerfile (trtexec needs the GPU it will run on), so without it the
            // repository would hold a config with no model file.
            if (docker is not DockerTarget.Triton)
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"'triton.platform: tensorrt' needs 'docker: triton': the TensorRT engine is built by the Dockerfile's engine stage {ctx}",
                    PlatformNode(tNode) ?? tNode);
            if (kserve is not null)
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"'kserve' cannot serve 'triton.platform: tensorrt': KServe loads the repository from storage, which holds no engine; " +
                    $"use 'platform: onnxruntime' with 'optimization: {{ accelerator: tensorrt }}' {ctx}",
                    map.KeyNode("kserve")!);
        }
        if (triton is { Platform: TritonBackendKind.PyTorch } && map["triton"] is { } pNode)
        {
            if (!export.TorchScript)
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"'triton.platform: pytorch' serves the TorchScript artifact, which needs 'export.torchscript: true' {ctx}",
                    PlatformNode(pNode) ?? pNode);
            if (variant.Value != VariantSpec.BaseName)
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"'triton.platform: pytorch' serves the TorchScript export of the source model; variants are ONNX, " +
                    $"so 'deploy.variant' must be base {ctx}",
                    PlatformNode(pNode) ?? pNode);
        }

        return new DeploySpec
        {
            Variant = variant,
            Triton = triton,
            Docker = docker ?? DockerTarget.None,
            KServe = kserve,
            Mobile = mobile,
            Tflite = tflite,
            MobileLocation = map["mobile"] is { } mobileNode ? reader.At(mobileNode) : null,
            Location = map.Location,
        };
    }

    /// <summary><c>deploy.mobile</c>: one format, or a list of them.</summary>
    private List<MobileFormat> BindMobile(YamlNode node)
    {
        if (node is YamlScalarNode { Value: EnumNames.NoMobile }) return [];
        var items = node is YamlSequenceNode ? reader.List(node, "deploy.mobile") ?? [] : [node];
        var formats = new List<MobileFormat>();
        foreach (var item in items)
        {
            if (reader.Enum(item, "deploy.mobile", EnumNames.Mobile) is not { } format) continue;
            if (formats.Contains(format)) reader.Report(DiagnosticCodes.InvalidValue, $"'deploy.mobile' lists {format.ToString().ToLowerInvariant()} twice", item);
            else formats.Add(format);
        }
        return formats;
    }

    private TfliteSpec BindTflite(YamlNode? node, SourceLocation fallback)
    {
        if (node is null || reader.Map(node, "deploy.tflite", "in 'deploy.tflite'") is not { } map) return new TfliteSpec { Location = fallback };
        map.CheckKeys(ManifestKeys.Tflite);
        return new TfliteSpec
        {
            Layout = map["layout"] is { } l ? reader.Enum(l, "deploy.tflite.layout", EnumNames.TfliteLayout) ?? TfliteLayout.Nhwc : TfliteLayout.Nhwc,
            Io = map["io"] is { } io ? reader.Enum(io, "deploy.tflite.io", EnumNames.TfliteIo) ?? TfliteIo.Float : TfliteIo.Float,
            Location = map.Location,
        };
    }

    private static YamlNode? PlatformNode(YamlNode triton) =>
        triton is YamlMappingNode m && m.Children.TryGetValue(new YamlScalarNode("platform"), out var p) ? p : null;

    private TritonSpec? BindTriton(YamlNode node, string ctx)
    {
        if (reader.Map(node, "deploy.triton", $"in 'deploy.triton' {ctx}") is not { } map) return null;
        map.CheckKeys(ManifestKeys.Triton);
        var maxBatch = map["max_batch_size"] is { } mb ? reader.Int(mb, "deploy.triton.max_batch_size", min: 0) : null;

        DynamicBatchingSpec? batching = null;
        if (map["dynamic_batching"] is { } dbNode
            && reader.Map(dbNode, "deploy.triton.dynamic_batching", $"in 'deploy.triton.dynamic_batching' {ctx}") is { } db)
        {
            db.CheckKeys(ManifestKeys.DynamicBatching);
            // Triton only batches requests for models that declare a batch dimension (max_batch_size > 0).
            if (maxBatch is 0 || (maxBatch is null && !map.Has("max_batch_size")))
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"'dynamic_batching' needs 'max_batch_size' greater than 0 {ctx}", map.KeyNode("dynamic_batching")!);
            var delay = db["max_queue_delay_us"] is { } q
                ? reader.Integer(q, "deploy.triton.dynamic_batching.max_queue_delay_us", min: 0) : null;
            var preferred = new List<int>();
            if (db["preferred_batch_size"] is { } pNode && reader.List(pNode, "preferred_batch_size") is { } sizes)
            {
                foreach (var item in sizes)
                {
                    if (reader.Int(item, "preferred_batch_size", min: 1) is not { } size) continue;
                    if (maxBatch is > 0 && size > maxBatch)
                        reader.Report(DiagnosticCodes.InvalidValue,
                            $"preferred batch size {size} is larger than max_batch_size {maxBatch}", item);
                    preferred.Add(size);
                }
            }
            batching = new DynamicBatchingSpec { MaxQueueDelayUs = delay ?? 0, PreferredBatchSizes = preferred };
        }

        var groups = new List<InstanceGroupSpec>();
        if (map["instance_group"] is { } igNode && reader.List(igNode, "deploy.triton.instance_group") is { } items)
        {
            for (var i = 0; i < items.Count; i++)
            {
                if (reader.Map(items[i], $"instance_group[{i}]", $"in 'deploy.triton.instance_group[{i}]' {ctx}") is not { } g)
                    continue;
                g.CheckKeys(ManifestKeys.InstanceGroup);
                var kind = g.Require("kind") is { } kn ? reader.Enum(kn, "instance_group.kind", EnumNames.InstanceKind) : null;
                var count = g["count"] is { } c ? reader.Int(c, "instance_group.count", min: 1) : null;
                if (kind is { } kv) groups.Add(new InstanceGroupSpec(kv, count ?? 1));
            }
        }

        var platform = map["platform"] is { } pl
            ? reader.Enum(pl, "deploy.triton.platform", EnumNames.TritonPlatform) ?? TritonBackendKind.OnnxRuntime
            : TritonBackendKind.OnnxRuntime;
        var optimization = map["optimization"] is { } o ? BindOptimization(o, ctx, platform, groups) : null;

        var version = map["version"] is { } vn ? reader.Int(vn, "deploy.triton.version", min: 1) ?? 1 : 1;
        var policy = map["version_policy"] is { } vp ? BindVersionPolicy(vp, ctx, version) : VersionPolicySpec.Latest;

        WarmupSpec? warmup = null;
        if (map["warmup"] is { } wNode)
        {
            var batchLimit = Math.Max(1, maxBatch ?? 0);
            if (wNode is YamlMappingNode && reader.Map(wNode, "deploy.triton.warmup", $"in 'deploy.triton.warmup' {ctx}") is { } w)
            {
                w.CheckKeys(ManifestKeys.Warmup);
                var size = w["batch_size"] is { } bs ? reader.Int(bs, "deploy.triton.warmup.batch_size", min: 1) : 1;
                // Triton requires batch_size 1 for models without batching, and at most max_batch_size otherwise.
                if (size > batchLimit)
                    reader.Report(DiagnosticCodes.InvalidValue,
                        $"'warmup.batch_size' {size} is larger than " +
                        $"{(maxBatch is > 0 ? $"max_batch_size {maxBatch}" : "1, the only size a model without batching (max_batch_size 0) takes")}",
                        w["batch_size"]!);
                else if (size is { } s) warmup = new WarmupSpec(s);
            }
            else if (reader.Bool(wNode, "deploy.triton.warmup") is true)
            {
                warmup = new WarmupSpec(1);
            }
        }

        var preprocessing = map["preprocessing"] is { } pre ? BindPreprocessing(pre, ctx) : null;

        return new TritonSpec
        {
            MaxBatchSize = maxBatch ?? 0,
            DynamicBatching = batching,
            InstanceGroups = groups,
            Platform = platform,
            PlatformLocation = map["platform"] is { } platformAt ? reader.At(platformAt) : null,
            Optimization = optimization,
            Version = version,
            VersionPolicy = policy,
            Warmup = warmup,
            Preprocessing = preprocessing,
            Location = map.Location,
        };
    }

    private PreprocessingSpec? BindPreprocessing(YamlNode node, string ctx)
    {
        if (reader.Map(node, "deploy.triton.preprocessing", $"in 'deploy.triton.preprocessing' {ctx}") is not { } map) return null;
        map.CheckKeys(ManifestKeys.Preprocessing);
        const string where = "deploy.triton.preprocessing";

        string? name = null;
        TensorElementType? dtype = null;
        List<int>? shape = null;
        if (map.Require("input", "it declares the raw input clients send") is { } inNode
            && reader.Map(inNode, $"{where}.input", $"in '{where}.input' {ctx}") is { } input)
        {
            input.CheckKeys(ManifestKeys.PreprocessingInput);
            name = input["name"] is { } n ? reader.Text(n, $"{where}.input.name")?.Value : PreprocessingSpec.DefaultInputName;
            dtype = input["dtype"] is { } d ? reader.Enum(d, $"{where}.input.dtype", EnumNames.RawImageType) : TensorElementType.UInt8;
            if (input.Require("shape", "[h, w] or [h, w, c], without the batch axis") is { } sNode
                && reader.List(sNode, $"{where}.input.shape") is { } items)
            {
                var dims = items.Select(i => reader.Int(i, $"{where}.input.shape", min: 1)).ToList();
                if (items.Count is not (2 or 3))
                    reader.Report(DiagnosticCodes.InvalidValue,
                        $"'{where}.input.shape' must be [h, w] or [h, w, c] (the batch axis comes from max_batch_size), got " +
                        $"{items.Count} entries {ctx}", sNode);
                else if (dims.All(x => x is not null)) shape = dims.Select(x => x!.Value).ToList();
            }
        }

        var declared = DeclarePreprocessing(map, where, resize: false);
        // One value broadcasts over every channel; otherwise there must be one per channel of the raw image.
        var channels = shape is { Count: 3 } ? shape[2] : 1;
        foreach (var key in new[] { "mean", "std" })
            if (declared is not null && shape is not null && map[key] is YamlSequenceNode { Children.Count: > 1 } values
                && values.Children.Count != channels)
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"'{where}.{key}' has {values.Children.Count} values but the input has {channels} channel(s); give one value or " +
                    $"one per channel {ctx}", values);

        if (name is null || dtype is null || shape is null) return null;
        return new PreprocessingSpec
        {
            InputName = name,
            InputType = dtype.Value,
            InputShape = shape,
            Location = map.Location,
        };
    }

    private TritonOptimizationSpec? BindOptimization(YamlNode node, string ctx, TritonBackendKind platform, List<InstanceGroupSpec> groups)
    {
        if (reader.Map(node, "deploy.triton.optimization", $"in 'deploy.triton.optimization' {ctx}") is not { } map) return null;
        map.CheckKeys(ManifestKeys.Optimization);
        var accelerator = map["accelerator"] is { } a
            ? reader.Enum(a, "optimization.accelerator", EnumNames.Accelerator) ?? AcceleratorKind.None
            : AcceleratorKind.None;
        var precision = map["precision"] is { } p ? reader.Enum(p, "optimization.precision", EnumNames.Precision) : null;
        var workspace = map["max_workspace_mb"] is { } ws ? reader.Int(ws, "optimization.max_workspace_mb", min: 1, max: 1 << 20) : null;

        // Accelerators are ONNX Runtime execution providers; other backends have none to pick.
        if (accelerator != AcceleratorKind.None && platform != TritonBackendKind.OnnxRuntime)
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'optimization.accelerator' applies to 'platform: onnxruntime' only {ctx}", map.KeyNode("accelerator")!);
        var tensorRt = accelerator == AcceleratorKind.TensorRt || platform == TritonBackendKind.TensorRt;
        foreach (var key in new[] { "precision", "max_workspace_mb" })
        {
            if (map.Has(key) && !tensorRt)
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"'optimization.{key}' is a TensorRT setting: it needs 'accelerator: tensorrt' or 'platform: tensorrt' {ctx}",
                    map.KeyNode(key)!);
        }
        // Triton applies GPU accelerators to GPU instances and CPU accelerators to CPU instances only.
        if (accelerator == AcceleratorKind.TensorRt && groups.Count > 0 && groups.All(g => g.Kind == InstanceKind.Cpu))
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'accelerator: tensorrt' runs on GPU instances, but every instance_group is kind cpu {ctx}", map.KeyNode("accelerator")!);
        if (accelerator == AcceleratorKind.OpenVino && groups.Count > 0 && groups.All(g => g.Kind == InstanceKind.Gpu))
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'accelerator: openvino' runs on CPU instances, but every instance_group is kind gpu {ctx}", map.KeyNode("accelerator")!);

        return new TritonOptimizationSpec
        {
            Accelerator = accelerator,
            Precision = precision ?? PrecisionKind.Fp32,
            PrecisionSet = precision is not null,
            MaxWorkspaceMb = workspace,
            Location = map.Location,
        };
    }

    private VersionPolicySpec BindVersionPolicy(YamlNode node, string ctx, int version)
    {
        if (node is not YamlMappingNode)
        {
            var kind = reader.Enum(node, "deploy.triton.version_policy", EnumNames.VersionPolicy);
            return kind == VersionPolicyKind.All ? VersionPolicySpec.All : VersionPolicySpec.Latest;
        }
        if (reader.Map(node, "deploy.triton.version_policy", $"in 'deploy.triton.version_policy' {ctx}") is not { } map)
            return VersionPolicySpec.Latest;
        map.CheckKeys(ManifestKeys.VersionPolicy);
        if (map.Require("specific") is not { } sNode || reader.List(sNode, "version_policy.specific") is not { } items)
            return VersionPolicySpec.Latest;
        var versions = new List<long>();
        foreach (var item in items)
            if (reader.Integer(item, "version_policy.specific", min: 1) is { } n && !versions.Contains(n)) versions.Add(n);
        if (items.Count == 0)
            reader.Report(DiagnosticCodes.InvalidValue, $"'version_policy.specific' must list at least one version {ctx}", sNode);
        else if (versions.Count > 0 && !versions.Contains(version))
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'version_policy.specific' does not list version {version}, the one this build writes, so Triton would not serve it {ctx}",
                sNode);
        return new VersionPolicySpec(VersionPolicyKind.Specific, versions);
    }

    private KServeSpec? BindKServe(YamlNode node, string ctx)
    {
        if (node is not YamlMappingNode)
            return reader.Bool(node, "deploy.kserve") is true ? new KServeSpec { Location = reader.At(node) } : null;
        if (reader.Map(node, "deploy.kserve", $"in 'deploy.kserve' {ctx}") is not { } map) return null;
        map.CheckKeys(ManifestKeys.KServe);

        var storage = map["storage_uri"] is { } su ? reader.Text(su, "kserve.storage_uri") : null;
        if (storage is { } s && !StorageUriPattern().IsMatch(s.Value))
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'kserve.storage_uri' must be a URI such as s3://bucket/path, gs://bucket/path, pvc://claim/path or https://..., got '{s.Value}'",
                map["storage_uri"]!);
        var runtime = map["runtime"] is { } rt ? reader.Text(rt, "kserve.runtime") : null;
        if (runtime is { } r && !KubernetesNamePattern().IsMatch(r.Value))
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'kserve.runtime' must be a Kubernetes resource name (lower-case letters, digits, '-', '.'), got '{r.Value}'", map["runtime"]!);
        var min = map["min_replicas"] is { } mn ? reader.Int(mn, "kserve.min_replicas", min: 0) : null;
        var max = map["max_replicas"] is { } mx ? reader.Int(mx, "kserve.max_replicas", min: 1) : null;
        if (min is { } lo && max is { } hi && hi < lo)
            reader.Report(DiagnosticCodes.InvalidValue, $"'kserve.max_replicas' ({hi}) must be at least 'min_replicas' ({lo})", map["max_replicas"]!);
        var target = map["scale_target"] is { } st ? reader.Int(st, "kserve.scale_target", min: 1) : null;
        var metric = map["scale_metric"] is { } sm ? reader.Enum(sm, "kserve.scale_metric", EnumNames.ScaleMetric) : null;

        string? cpu = null, memory = null;
        int? gpu = null;
        if (map["resources"] is { } resNode && reader.Map(resNode, "kserve.resources", $"in 'deploy.kserve.resources' {ctx}") is { } res)
        {
            res.CheckKeys(ManifestKeys.Resources);
            cpu = res["cpu"] is { } c ? Quantity(c, "kserve.resources.cpu", "'1', '500m'") : null;
            memory = res["memory"] is { } me ? Quantity(me, "kserve.resources.memory", "'2Gi', '512Mi'") : null;
            gpu = res["gpu"] is { } g ? reader.Int(g, "kserve.resources.gpu", min: 0, max: 64) : null;
        }

        return new KServeSpec
        {
            StorageUri = storage?.Value,
            Runtime = runtime?.Value ?? KServeSpec.DefaultRuntime,
            MinReplicas = min,
            MaxReplicas = max,
            ScaleTarget = target,
            ScaleMetric = metric,
            Cpu = cpu,
            Memory = memory,
            Gpu = gpu,
            Location = map.Location,
        };
    }

    /// <summary>A Kubernetes resource quantity; checked here so kubectl does not reject the manifest later.</summary>
    private string? Quantity(YamlNode node, string what, string examples)
    {
        if (reader.Text(node, what) is not { } text) return null;
        if (QuantityPattern().IsMatch(text.Value)) return text.Value;
        reader.Report(DiagnosticCodes.InvalidValue, $"'{what}' must be a Kubernetes quantity such as {examples}, got '{text.Value}'", node);
        return null;
    }

    // \z rather than $ in these patterns: $ also matches before a final "\n", which Kubernetes would reject.
    [GeneratedRegex(@"^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?\z")]
    private static partial Regex QuantityPattern();

    [GeneratedRegex(@"^[a-z][a-z0-9+.-]*://\S+\z")]
    private static partial Regex StorageUriPattern();

    [GeneratedRegex(@"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\z")]
    private static partial Regex KubernetesNamePattern();
}
