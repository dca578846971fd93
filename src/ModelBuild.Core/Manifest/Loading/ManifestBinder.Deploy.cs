using ModelBuild.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace ModelBuild.Manifest.Loading;

internal sealed partial class ManifestBinder
{
    private DeploySpec BindDeploy(YamlNode node, string ctx)
    {
        if (reader.Map(node, "deploy", $"in 'deploy' {ctx}") is not { } map)
            return new DeploySpec { Variant = new(VariantSpec.BaseName, reader.At(node)) };
        map.CheckKeys(ManifestKeys.Deploy);

        var variant = new Located<string>(VariantSpec.BaseName, map.Location);
        if (map["variant"] is { } v && reader.Text(v, "deploy.variant") is { } name) variant = name;
        var triton = map["triton"] is { } t ? BindTriton(t, ctx) : null;
        var docker = map["docker"] is { } d ? reader.Enum(d, "deploy.docker", EnumNames.Docker) : null;
        var kserve = map["kserve"] is { } k && (reader.Bool(k, "deploy.kserve") ?? false);
        var mobile = map["mobile"] is { } m && (reader.Enum(m, "deploy.mobile", EnumNames.Mobile) ?? false);

        return new DeploySpec
        {
            Variant = variant,
            Triton = triton,
            Docker = docker ?? DockerTarget.None,
            KServe = kserve,
            Mobile = mobile ? "ort" : null,
            Location = map.Location,
        };
    }

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

        var platform = map["platform"] is { } platformNode ? reader.Enum(platformNode, "deploy.triton.platform", EnumNames.TritonPlatform) : null;

        return new TritonSpec
        {
            Platform = platform ?? Targets.TritonPlatform.OnnxRuntime,
            PlatformLocation = map["platform"] is { } pn ? reader.At(pn) : null,
            MaxBatchSize = maxBatch ?? 0,
            DynamicBatching = batching,
            InstanceGroups = groups,
            Location = map.Location,
        };
    }
}
