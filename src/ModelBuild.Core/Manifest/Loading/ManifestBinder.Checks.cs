using ModelBuild.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace ModelBuild.Manifest.Loading;

internal sealed partial class ManifestBinder
{
    private ChecksSpec BindChecks(YamlNode node, string ctx, bool hasEvaluate)
    {
        if (reader.Map(node, "checks", $"in 'checks' {ctx}") is not { } map) return new ChecksSpec();
        map.CheckKeys(ManifestKeys.Checks);

        ParityCheckSpec? parity = null;
        if (CheckMap(map, "parity", ManifestKeys.Parity, ctx) is { } p)
        {
            var maxAbs = p.Map.Require("max_abs") is { } v ? Threshold(v, "checks.parity.max_abs", min: 0) : null;
            parity = new ParityCheckSpec { MaxAbs = maxAbs ?? default, Severity = p.Severity, Location = p.Map.Location };
        }

        SimilarityCheckSpec? similarity = null;
        if (CheckMap(map, "similarity", ManifestKeys.Similarity, ctx) is { } sim)
        {
            var minCosine = sim.Map.Require("min_cosine") is { } v ? Threshold(v, "checks.similarity.min_cosine", -1, 1) : null;
            similarity = new SimilarityCheckSpec { MinCosine = minCosine ?? default, Severity = sim.Severity, Location = sim.Map.Location };
        }

        AccuracyCheckSpec? accuracy = null;
        if (CheckMap(map, "accuracy", ManifestKeys.Accuracy, ctx) is { } a)
        {
            var min = a.Map["min"] is { } mn ? Threshold(mn, "checks.accuracy.min", 0, 1) : null;
            var drop = a.Map["max_drop"] is { } md ? Threshold(md, "checks.accuracy.max_drop", 0, 1) : null;
            var dropPercent = a.Map["max_drop_percent"] is { } mp ? Threshold(mp, "checks.accuracy.max_drop_percent", 0, 100) : null;
            if (!a.Map.Has("min") && !a.Map.Has("max_drop") && !a.Map.Has("max_drop_percent"))
                reader.Report(DiagnosticCodes.MissingKey,
                    $"'checks.accuracy' needs 'min', 'max_drop' or 'max_drop_percent' {ctx}", a.Map.Node);
            if (!hasEvaluate)
                reader.Report(DiagnosticCodes.MissingKey,
                    $"'checks.accuracy' needs labelled data: add an 'evaluate' section {ctx}", map.KeyNode("accuracy")!);
            accuracy = new AccuracyCheckSpec { Min = min, MaxDrop = drop, MaxDropPercent = dropPercent,
                Severity = a.Severity, Location = a.Map.Location };
        }

        LatencyCheckSpec? latency = null;
        if (CheckMap(map, "latency", ManifestKeys.Latency, ctx) is { } l)
        {
            var p95 = l.Map.Require("p95_ms") is { } v ? Threshold(v, "checks.latency.p95_ms", min: 0, minExclusive: true) : null;
            var batch = l.Map["batch"] is { } b ? reader.Int(b, "checks.latency.batch", 1, LatencyCheckSpec.MaxBatch) : null;
            latency = new LatencyCheckSpec
            {
                P95Ms = p95 ?? default, Batch = batch ?? 1, Severity = l.Severity, Location = l.Map.Location,
            };
        }

        SizeCheckSpec? size = null;
        if (CheckMap(map, "size", ManifestKeys.Size, ctx) is { } s)
        {
            var maxMb = s.Map.Require("max_mb") is { } v ? Threshold(v, "checks.size.max_mb", min: 0, minExclusive: true) : null;
            size = new SizeCheckSpec { MaxMb = maxMb ?? default, Severity = s.Severity, Location = s.Map.Location };
        }

        // checklist: true | false | { severity: warning } (the mapping form turns it on).
        var checklist = false;
        var checklistSeverity = Severity.Error;
        SourceLocation? checklistAt = null;
        if (map["checklist"] is { } c)
        {
            checklistAt = reader.At(c);
            if (c is YamlMappingNode)
            {
                if (CheckMap(map, "checklist", ManifestKeys.Checklist, ctx) is { } cl)
                {
                    checklist = true;
                    checklistSeverity = cl.Severity;
                }
            }
            else
            {
                checklist = reader.Bool(c, "checks.checklist") ?? false;
            }
        }

        return new ChecksSpec
        {
            Parity = parity,
            Similarity = similarity,
            Accuracy = accuracy,
            Latency = latency,
            Size = size,
            Checklist = checklist,
            ChecklistSeverity = checklistSeverity,
            ChecklistLocation = checklistAt,
        };
    }

    /// <summary>The mapping of one check with its keys checked and its <c>severity</c> read.</summary>
    private (YamlMap Map, Severity Severity)? CheckMap(YamlMap checks, string key, string[] keys, string ctx)
    {
        if (checks[key] is not { } node || reader.Map(node, $"checks.{key}", $"in 'checks.{key}' {ctx}") is not { } map)
            return null;
        map.CheckKeys(keys);
        var severity = map["severity"] is { } s ? reader.Enum(s, $"checks.{key}.severity", EnumNames.Severity) : null;
        return (map, severity ?? Severity.Error);
    }

    private Threshold? Threshold(YamlNode node, string what, double min = double.MinValue, double max = double.MaxValue,
        bool minExclusive = false) =>
        reader.Number(node, what, min, max, minExclusive) is { } v ? new Threshold(v, reader.At(node)) : null;
}
