using ModelBuild.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace ModelBuild.Manifest.Loading;

internal sealed partial class ManifestBinder
{
    private List<VariantSpec> BindVariants(YamlNode node, string modelName)
    {
        var result = new List<VariantSpec>();
        if (reader.List(node, "variants") is not { } items) return result;
        var owner = modelName.Length > 0 ? $"model '{modelName}'" : "this model";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            if (reader.Map(items[i], $"variants[{i}]", $"in variants[{i}] of {owner}") is not { } map) continue;
            var name = BindName(map, "variant");
            if (NameRules.ReservedVariantNames.Contains(name.Value))
            {
                reader.Report(DiagnosticCodes.InvalidName,
                    $"variant name '{name.Value}' is reserved ('base' is the plain export, 'best' picks the fastest passing variant); " +
                        $"choose another name",
                    name.Location);
                name = new("", name.Location);
            }
            else if (name.Value.Length > 0 && !seen.Add(name.Value))
            {
                reader.Report(DiagnosticCodes.DuplicateName,
                    $"duplicate variant name '{name.Value}' in {owner}", name.Location);
            }
            if (name.Value.Length > 0) map.Context = $"in variant '{name.Value}' of {owner}";
            result.Add(BindVariant(map, name));
        }
        return result;
    }

    private VariantSpec BindVariant(YamlMap map, Located<string> name)
    {
        var ctx = map.Context;
        map.CheckKeys(ManifestKeys.Variant);

        var from = new Located<string>(VariantSpec.BaseName, map.Location);
        if (map["from"] is { } fromNode && reader.Text(fromNode, "from") is { } f) from = f;

        Located<OptimizationLevel>? optimize = null;
        if (map["optimize"] is { } optNode && reader.Enum(optNode, "optimize", EnumNames.Optimize) is { } level)
            optimize = new(level, reader.At(optNode));

        var quantize = map["quantize"] is { } q ? BindQuantize(q, ctx) : null;
        var fp16Off = false;
        var fp16 = map["fp16"] is { } h ? BindFp16(h, ctx, out fp16Off) : null;
        var prune = map["prune"] is { } p ? BindPrune(p, ctx) : null;

        // 'fp16: false' is a valid value but converts nothing, so alone it leaves the variant without a pass.
        if (!map.Has("optimize") && !map.Has("quantize") && !map.Has("prune") && (!map.Has("fp16") || fp16Off))
            reader.Report(DiagnosticCodes.MissingKey,
                $"nothing to do {ctx}" +
                    $"{(fp16Off ? " ('fp16: false' converts nothing)" : "")}; give the variant at least one of: optimize, quantize, fp16, prune",
                map.Node);
        if (map.KeyNode("quantize") is not null && map.KeyNode("fp16") is { } fp16Key && fp16 is not null)
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'quantize' and 'fp16' can't be combined in one variant {ctx}; make them separate variants", fp16Key);

        return new VariantSpec
        {
            Name = name,
            From = from,
            Optimize = optimize,
            Quantize = quantize,
            Fp16 = fp16,
            Prune = prune,
            Location = map.Location,
        };
    }

    private QuantizeSpec? BindQuantize(YamlNode node, string ctx)
    {
        if (reader.Map(node, "quantize", $"in 'quantize' {ctx}") is not { } map) return null;
        map.CheckKeys(ManifestKeys.Quantize);
        var mode = map.Require("mode") is { } m ? reader.Enum(m, "quantize.mode", EnumNames.QuantizeMode) : null;
        var perChannel = map["per_channel"] is { } pc ? reader.Bool(pc, "quantize.per_channel") : null;
        var format = map["format"] is { } fo ? reader.Enum(fo, "quantize.format", EnumNames.QuantizeFormat) : null;
        var symmetric = map["symmetric"] is { } sy ? reader.Bool(sy, "quantize.symmetric") : null;
        var reduceRange = map["reduce_range"] is { } rr ? reader.Bool(rr, "quantize.reduce_range") : null;
        var accuracyAware = map["accuracy_aware"] is { } aa && (reader.Bool(aa, "quantize.accuracy_aware") ?? false);
        var latencyAware = map["latency_aware"] is { } la ? reader.Bool(la, "quantize.latency_aware") : null;
        var outlierChannels = map["outlier_channels"] is { } oc ? reader.Bool(oc, "quantize.outlier_channels") : null;
        if (mode is not null and not QuantizeMode.Dynamic && map.KeyNode("outlier_channels") is { } k0)
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'quantize.outlier_channels' applies to dynamic quantization only {ctx}; static int8 calibrates each activation's range", k0);
        if (mode == QuantizeMode.Dynamic)
        {
            if (map.KeyNode("format") is { } k1)
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"'quantize.format' applies to static quantization only {ctx}; dynamic quantization always writes MatMulInteger", k1);
        }
        if (mode == QuantizeMode.Qat && map.KeyNode("format") is { } k2)
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'quantize.format' applies to static quantization only {ctx}; qat trains and writes QuantizeLinear/DequantizeLinear pairs", k2);
        var learnScales = map["learn_scales"] is { } ls ? reader.Bool(ls, "quantize.learn_scales") : null;
        FinetuneSpec? finetune = null;
        if (mode == QuantizeMode.Qat)
        {
            finetune = map.Require("finetune", "qat fine-tunes the quantized model on labelled training data") is { } ftNode
                ? BindFinetune(ftNode, "quantize.finetune", ctx) : null;
        }
        else if (mode is not null)
        {
            foreach (var key in new[] { "finetune", "learn_scales" })
                if (map.KeyNode(key) is { } k3)
                    reader.Report(DiagnosticCodes.InvalidValue,
                        $"'quantize.{key}' applies to quantization-aware training only (mode: qat) {ctx}", k3);
        }

        CalibrationSpec? calibration = null;
        if (map["calibration"] is { } calNode && reader.Map(calNode, "quantize.calibration", $"in 'quantize.calibration' {ctx}") is { } cal)
        {
            cal.CheckKeys(ManifestKeys.Calibration);
            var data = cal.Require("data") is { } d ? FilePath(d, "quantize.calibration.data", [".npy", ".npz"]) : null;
            var samples = cal["samples"] is { } s ? reader.Int(s, "quantize.calibration.samples", min: 1) : null;
            var method = cal["method"] is { } me ? reader.Enum(me, "quantize.calibration.method", EnumNames.Calibration) : null;
            calibration = new CalibrationSpec
            {
                Data = data ?? "",
                Samples = samples,
                Method = method,
                Location = cal.Location,
            };
        }
        else if (mode is QuantizeMode.Static or QuantizeMode.Qat && !map.Has("calibration"))
        {
            map.Require("calibration", $"{(mode == QuantizeMode.Qat ? "qat starts from static quantization, which" : "static quantization")} " +
                "needs representative input data to calibrate with");
        }

        IReadOnlyList<string> ops = [], nodes = [];
        if (map["exclude"] is { } exNode && reader.Map(exNode, "quantize.exclude", $"in 'quantize.exclude' {ctx}") is { } ex)
        {
            ex.CheckKeys(ManifestKeys.Exclude);
            ops = ex["ops"] is { } o ? StringList(o, "quantize.exclude.ops") : [];
            nodes = ex["nodes"] is { } n ? StringList(n, "quantize.exclude.nodes") : [];
        }

        IReadOnlyList<string>? only = null;
        if (map["ops"] is { } opsNode && reader.List(opsNode, "quantize.ops") is { } items)
        {
            var effectiveMode = mode ?? QuantizeMode.Dynamic;
            var supported = QuantizableOps.For(effectiveMode);
            var listed = new List<string>();
            foreach (var item in items)
            {
                if (reader.Text(item, "quantize.ops") is not { } op) continue;
                if (!supported.Contains(op.Value))
                    reader.Report(DiagnosticCodes.InvalidValue,
                        $"'quantize.ops' lists '{op.Value}', which {effectiveMode.ToString().ToLowerInvariant()}" +
                            $" quantization does not quantize; it quantizes: {string.Join(", ", supported.Order(StringComparer.Ordinal))}", item);
                listed.Add(op.Value);
            }
            only = listed;
        }

        return new QuantizeSpec
        {
            Ops = only,
            Mode = mode ?? QuantizeMode.Dynamic,
            PerChannel = perChannel,
            Format = format,
            Symmetric = symmetric,
            ReduceRange = reduceRange,
            AccuracyAware = accuracyAware,
            LatencyAware = latencyAware,
            OutlierChannels = outlierChannels,
            AccuracyAwareLocation = accuracyAware && map.KeyNode("accuracy_aware") is { } aaKey ? reader.At(aaKey) : null,
            Calibration = calibration,
            Finetune = finetune,
            LearnScales = learnScales,
            ExcludeOps = ops,
            ExcludeNodes = nodes,
            Location = map.Location,
        };
    }

    /// <summary><c>fp16: { keep_io_types: bool, block_ops: [..] }</c>, or the shorthand <c>fp16: true</c>.</summary>
    /// <summary>fp16: true, false or the options mapping; <paramref name="off"/> tells a valid 'false' from a bad value.</summary>
    private Fp16Spec? BindFp16(YamlNode node, string ctx, out bool off)
    {
        off = false;
        if (node is YamlScalarNode)
        {
            var on = reader.Bool(node, "fp16");
            off = on == false;
            return on == true ? new Fp16Spec { Location = reader.At(node) } : null;
        }
        if (reader.Map(node, "fp16", $"in 'fp16' {ctx}") is not { } map) return null;
        map.CheckKeys(ManifestKeys.Fp16);
        var keep = map["keep_io_types"] is { } k ? reader.Bool(k, "fp16.keep_io_types") : null;
        var block = map["block_ops"] is { } b ? StringList(b, "fp16.block_ops") : null;
        return new Fp16Spec { KeepIoTypes = keep, BlockOps = block, Location = map.Location };
    }

    private PruneSpec? BindPrune(YamlNode node, string ctx)
    {
        if (reader.Map(node, "prune", $"in 'prune' {ctx}") is not { } map) return null;
        map.CheckKeys(ManifestKeys.Prune);
        var method = map.Require("method") is { } m ? reader.Enum(m, "prune.method", EnumNames.Prune) : null;

        var amounts = new List<double>();
        if (map.Require("amount") is { } a)
        {
            if (a is YamlSequenceNode && reader.List(a, "prune.amount") is { } list)
            {
                if (list.Count == 0)
                    reader.Report(DiagnosticCodes.InvalidValue, "'prune.amount' must list at least one rate", a);
                foreach (var item in list)
                    if (Amount(item) is { } v) amounts.Add(v);
            }
            else if (Amount(a) is { } v)
            {
                amounts.Add(v);
            }
        }

        var norm = map["n"] is { } nNode ? reader.Number(nNode, "prune.n", 1, 1000) : null;
        if (norm is not null && method is not PruneMethod.L1Structured && map.KeyNode("n") is { } nKey)
            reader.Report(DiagnosticCodes.InvalidValue, $"'prune.n' (the norm ranking channels) applies to l1-structured only {ctx}", nKey);

        var roundTo = map["round_to"] is { } rNode ? reader.Int(rNode, "prune.round_to", 1, 1024) : null;
        if (roundTo is not null && method is not PruneMethod.L1Structured && map.KeyNode("round_to") is { } rKey)
            reader.Report(DiagnosticCodes.InvalidValue, $"'prune.round_to' (channel block size) applies to l1-structured only {ctx}", rKey);

        var finetune = map["finetune"] is { } ftNode ? BindFinetune(ftNode, "prune.finetune", ctx) : null;

        return new PruneSpec
        {
            Method = method ?? PruneMethod.L1Unstructured,
            Amounts = amounts,
            Finetune = finetune,
            Norm = norm,
            RoundTo = roundTo,
            Location = map.Location,
        };

        double? Amount(YamlNode n) => reader.Number(n, "prune.amount", 0, 1, minExclusive: true, maxExclusive: true);
    }

    /// <summary><c>prune.finetune</c> and <c>quantize.finetune</c>: the same keys, the same records (FineTuneSettings holds the defaults).</summary>
    private FinetuneSpec? BindFinetune(YamlNode node, string key, string ctx)
    {
        if (reader.Map(node, key, $"in '{key}' {ctx}") is not { } ft) return null;
        ft.CheckKeys(ManifestKeys.Finetune);
        var data = ft.Require("data") is { } d ? FilePath(d, $"{key}.data", [".npz"]) : null;
        var samples = ft["samples"] is { } sm ? reader.Int(sm, $"{key}.samples", min: 1) : null;
        var epochs = ft["epochs"] is { } e ? reader.Int(e, $"{key}.epochs", min: 1) : null;
        var batch = ft["batch_size"] is { } b ? reader.Int(b, $"{key}.batch_size", min: 1) : null;
        var rate = ft["learning_rate"] is { } lr ? reader.Number(lr, $"{key}.learning_rate", 0, 1, minExclusive: true) : null;
        var optimizer = ft["optimizer"] is { } o ? reader.Enum(o, $"{key}.optimizer", EnumNames.Optimizer) : null;
        var loss = ft["loss"] is { } l ? reader.Enum(l, $"{key}.loss", EnumNames.Loss) : null;
        var schedule = ft["schedule"] is { } sc ? reader.Enum(sc, $"{key}.schedule", EnumNames.Schedule) : null;
        var distill = ft["distill"] is { } ds ? reader.Number(ds, $"{key}.distill", 0, 1) : null;
        var temperature = ft["temperature"] is { } tp ? reader.Number(tp, $"{key}.temperature", 0, 100, minExclusive: true) : null;
        // Distillation matches class probabilities, so it needs the classification loss.
        if (distill > 0 && loss == FinetuneLoss.Mse && ft.KeyNode("distill") is { } dk)
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'{key}.distill' needs loss: cross_entropy (distillation matches class probabilities) {ctx}", dk);
        return new FinetuneSpec
        {
            Data = data ?? "",
            Samples = samples,
            Epochs = epochs,
            BatchSize = batch,
            LearningRate = rate,
            Optimizer = optimizer,
            Loss = loss,
            Schedule = schedule,
            Distill = distill,
            Temperature = temperature,
            Location = ft.Location,
        };
    }

    private List<string> StringList(YamlNode node, string what)
    {
        var result = new List<string>();
        if (reader.List(node, what) is not { } items) return result;
        foreach (var item in items)
            if (reader.Text(item, what) is { } s) result.Add(s.Value);
        return result;
    }

    /// <summary>Every <c>from</c> and <c>deploy.variant</c> must name base, a declared variant (or best), without cycles.</summary>
    private void CheckVariantReferences(IReadOnlyList<VariantSpec> variants, DeploySpec deploy)
    {
        var byName = new Dictionary<string, VariantSpec>(StringComparer.Ordinal);
        foreach (var v in variants)
            if (v.Name.Value.Length > 0) byName.TryAdd(v.Name.Value, v);

        var known = byName.Keys.Prepend(VariantSpec.BaseName).ToList();
        foreach (var v in variants)
        {
            var from = v.From.Value;
            if (from == VariantSpec.BaseName || byName.ContainsKey(from)) continue;
            var options = known.Where(k => k != v.Name.Value).ToList();
            reader.Report(DiagnosticCodes.UnknownVariantReference,
                $"variant '{v.Name.Value}' is built from unknown variant '{from}'; expected one of: {string.Join(", ", options)}"
                + DidYouMean.Hint(from, options), v.From.Location);
        }

        // Follow each chain; a chain that returns to a variant already on it is a cycle. Report each cycle once,
        // at the 'from' of its first variant in document order.
        var reported = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in variants)
        {
            if (v.Name.Value.Length == 0 || reported.Contains(v.Name.Value)) continue;
            var chain = new List<string> { v.Name.Value };
            var current = v;
            while (byName.TryGetValue(current.From.Value, out var next))
            {
                if (next.Name.Value == v.Name.Value)
                {
                    reported.UnionWith(chain);
                    reader.Report(DiagnosticCodes.UnknownVariantReference,
                        $"variants build from each other in a cycle: {string.Join(" <- ", chain)} <- " +
                            $"{v.Name.Value}; one of them must start from 'base'",
                        v.From.Location);
                    break;
                }
                if (chain.Contains(next.Name.Value)) break; // a cycle further up; reported from its own members
                chain.Add(next.Name.Value);
                current = next;
            }
        }

        // Quantizers read float32 weights and activations: after fp16 they find float16 ones, leave them be and the
        // result is bigger than the fp16 variant it started from. The other order works (fp16 keeps quantized ops
        // in float32), so say so.
        foreach (var v in variants)
        {
            if (v.Quantize is null) continue;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var from = v.From.Value; byName.TryGetValue(from, out var parent) && seen.Add(from); from = parent.From.Value)
            {
                if (parent.Fp16 is null) continue;
                reader.Report(DiagnosticCodes.InvalidValue,
                    $"variant '{v.Name.Value}' quantizes '{v.From.Value}', which is float16" +
                        $"{(parent.Name.Value == v.From.Value ? "" : $" (through '{parent.Name.Value}')")}" +
                        $"; quantize first, then convert: put 'fp16' in a variant 'from: {v.Name.Value}'",
                    v.From.Location);
                break;
            }
        }

        var target = deploy.Variant.Value;
        if (target != VariantSpec.BaseName && target != DeploySpec.BestVariant && !byName.ContainsKey(target))
        {
            var options = known.Append(DeploySpec.BestVariant).ToList();
            reader.Report(DiagnosticCodes.UnknownVariantReference,
                $"'deploy.variant' names unknown variant '{target}'; expected one of: {string.Join(", ", options)}"
                + DidYouMean.Hint(target, options), deploy.Variant.Location);
        }
    }
}
