using System.CommandLine;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Passes;
using ModelBuild.Execution;

namespace ModelBuild.Tool.Commands;

/// <summary>
/// <c>modelbuild bench MODEL[,calib=FILE][,test=FILE][,variants=static+dynamic+fp16+pruned+pruned-static+qat][,prune=0.3][,train=FILE]
/// [,epochs=N][,lr=RATE][,schedule=cosine|none][,seq=N] ...</c>:
/// builds the variants of every model and measures each next to its float32 original in one run, on one intra-op
/// thread: p50 latency ratio, size ratio, and top-1 (with labelled test data) or output cosine.
/// </summary>
internal static class BenchCommand
{
    private static readonly SourceLocation Where = new("bench");

    /// <summary>dynamic-aa keeps nodes in float until 1 − cosine on its judge inputs is at most this.</summary>
    private const double AccuracyAwareMaxDrop = 0.008;

    public static Command Create()
    {
        var models = new Argument<string[]>("models")
        {
            Description = "MODEL.onnx with optional ,calib=FILE (.npy/.npz) ,test=FILE (.npz with labels) " +
                ",variants=static+dynamic+fp16+pruned+pruned-static ,prune=AMOUNT (l1-structured, default 0.3) " +
                ",train=FILE (.npz: fine-tune the pruned model) ,epochs=N ,lr=RATE (default 0.001) ,schedule=cosine|none (default cosine) " +
                ",distill=W (weight of distillation from the unpruned model, default 0) ,seq=N (length of other dynamic axes, default 128) " +
                ",save=FILE.npz (write the evaluation inputs)",
            Arity = ArgumentArity.OneOrMore,
        }.RefusingOptions();
        var samples = new Option<int?>("--samples") { Description = "Calibration samples (default: quantize.calibration.samples' default, 256)." };
        var variantOption = new Option<string[]>("--variant")
        {
            Description = "A variant written as in deploy.yaml, e.g. \"{ name: int8, quantize: { mode: dynamic, per_channel: true } }\" " +
                "(repeatable; built for every model, after the variants= shorthands).",
        };
        var bound = new Option<bool>("--int8-bound")
        {
            Description = "Add a row with the lowest p50 ratio any int8 variant can reach with this ONNX Runtime on this CPU: the float " +
                "model's products with constant weights at int8 kernel speed (timed alone, same shapes), everything else unchanged.",
        };
        var command = new Command("bench", "Measure pruned/quantized/fp16 variants against the float32 model: latency, size and accuracy ratios.")
        {
            models, samples, variantOption, bound,
        };
        command.SetAction(parse => CommandRunner.Run(() =>
        {
            var rows = new List<string[]>();
            foreach (var spec in parse.GetValue(models)!)
                rows.AddRange(Bench(BenchTarget.Parse(spec), parse.GetValue(samples), parse.GetValue(variantOption) ?? [], parse.GetValue(bound)));
            Print(rows);
            return ExitCode.Success;
        }));
        return command;
    }

    private sealed record BenchTarget(string Model, string? Calibration, string? Test, string[] Variants, int Sequence, int Batch, string? Vocab,
        double PruneAmount = 0.3, string? Train = null, int Epochs = 1, int RoundTo = 16, double LearningRate = 1e-3,
        FinetuneSchedule Schedule = FinetuneSchedule.Cosine, string? SaveInputs = null, double Distill = 0)
    {
        public static BenchTarget Parse(string text)
        {
            var parts = text.Split(',');
            var options = parts.Skip(1).Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "", StringComparer.Ordinal);
            var unknown = options.Keys.Except(["calib", "test", "variants", "seq", "batch", "vocab", "prune", "train", "epochs", "round", "lr",
                "schedule", "save", "distill"]).ToList();
            if (unknown.Count > 0)
                throw new ModelBuildException(DiagnosticCodes.InvalidValue, $"bench: unknown option(s) {string.Join(", ", unknown)} in '{text}'",
                    Where);
            // File options are relative to the shell's folder; the variants are built from a manifest in a work folder.
            string? FileOption(string key) => options.TryGetValue(key, out var f) && f.Length > 0 ? Path.GetFullPath(f) : null;
            return new BenchTarget(Path.GetFullPath(parts[0]), FileOption("calib"), FileOption("test"),
                options.TryGetValue("variants", out var v) ? v.Split('+', StringSplitOptions.RemoveEmptyEntries) : [],
                options.TryGetValue("seq", out var s) ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 128,
                options.TryGetValue("batch", out var b) ? int.Parse(b, System.Globalization.CultureInfo.InvariantCulture) : 1,
                FileOption("vocab"),
                options.TryGetValue("prune", out var p) ? double.Parse(p, System.Globalization.CultureInfo.InvariantCulture) : 0.3,
                FileOption("train"),
                options.TryGetValue("epochs", out var e) ? int.Parse(e, System.Globalization.CultureInfo.InvariantCulture) : 1,
                options.TryGetValue("round", out var r) ? int.Parse(r, System.Globalization.CultureInfo.InvariantCulture) : 16,
                options.TryGetValue("lr", out var lr) ? double.Parse(lr, System.Globalization.CultureInfo.InvariantCulture) : 1e-3,
                options.GetValueOrDefault("schedule") switch
                {
                    "none" => FinetuneSchedule.None,
                    null or "cosine" => FinetuneSchedule.Cosine,
                    var other => throw new ModelBuildException(DiagnosticCodes.InvalidValue, $"bench: schedule '{other}' is not none or cosine",
                        Where),
                },
                FileOption("save"),
                options.TryGetValue("distill", out var d) ? double.Parse(d, System.Globalization.CultureInfo.InvariantCulture) : 0);
        }
    }

    private static IEnumerable<string[]> Bench(BenchTarget target, int? calibrationSamples, string[] extraVariants, bool int8Bound)
    {
        var model = OnnxModelFile.Load(target.Model, Where);
        var io = ModelInterfaceReader.Read(model, Where);
        var hasConv = model.Graph.Node.Any(n => n.OpType == "Conv");
        var variants = target.Variants.Length > 0 || extraVariants.Length > 0 ? target.Variants : [hasConv ? "static" : "dynamic"];
        var work = Directory.CreateTempSubdirectory("modelbuild-bench-").FullName;
        try
        {
            // Evaluation inputs: the labelled test set, or deterministic synthetic inputs (16 samples) for cosine.
            NdArray? labels = null;
            IReadOnlyDictionary<string, NdArray> eval;
            if (target.Test is { } test)
            {
                var arrays = NpzReader.ReadAll(test);
                eval = io.Inputs.ToDictionary(i => i.Name, i => arrays[i.Name]);
                labels = arrays.GetValueOrDefault("labels");
            }
            else
            {
                eval = Synthetic(io, 16, target.Sequence, target.Vocab);
            }
            // save=FILE.npz: the rows measured here, one array per input, e.g. as a deploy.yaml's evaluate data.
            if (target.SaveInputs is { } save) NpzWriter.Write(save, eval);
            // Latency input: the first `batch` samples (batch 1 by default; a fixed-batch model takes its own).
            var latencyBatch = BatchedRunner.BatchSizeFor(io, target.Batch);
            var one = eval.ToDictionary(kv => kv.Key, kv => kv.Value.Slice(0, latencyBatch));

            var calibration = target.Calibration;
            if ((variants.Any(v => v.EndsWith("static", StringComparison.Ordinal) || v == "qat")
                || extraVariants.Any(v => v.Contains("static", StringComparison.Ordinal) || v.Contains("qat", StringComparison.Ordinal)))
                && calibration is null)
            {
                // No real calibration data: synthetic inputs, said so in the row.
                calibration = Path.Combine(work, "calib.npz");
                NpzWriter.Write(calibration, Synthetic(io, 8, target.Sequence, target.Vocab));
            }

            var fp32Path = target.Model;
            var built = BuildVariants(target, variants, extraVariants, calibration, calibrationSamples, io, work);
            var fp32Out = RunAll(fp32Path, eval, io);
            var fp32Latency = new List<double>();
            var latency = built.ToDictionary(b => b.Name, _ => new List<double>());
            // Alternate fp32 and variants a few rounds so background load hits both alike; median of the p50s.
            for (var round = 0; round < 3; round++)
            {
                fp32Latency.Add(P50(fp32Path, one, target.Batch));
                foreach (var (name, path) in built) latency[name].Add(P50(path, one, target.Batch));
            }
            var baseP50 = Median(fp32Latency);
            if (Environment.GetEnvironmentVariable("MODELBUILD_BENCH_PROFILE") == "1")
                foreach (var (name, path) in built.Prepend(("fp32", fp32Path))) Profile(Path.GetFileName(target.Model), name, path, one);
            var baseSize = new FileInfo(fp32Path).Length;
            var fp32Top1 = labels is not null ? Metrics.Top1Accuracy(fp32Out, labels) : (double?)null;
            var modelName = Path.GetFileName(target.Model);
            if (latencyBatch != 1) modelName += $" (batch {latencyBatch})";
            yield return [modelName, "fp32", $"{baseP50:0.00}", "1.00", "1.00", fp32Top1 is { } t ? $"top1 {t:0.0000}" : "cosine 1.0000",
                Kernels(fp32Path, work)];
            foreach (var (name, path) in built)
            {
                var output = RunAll(path, eval, io);
                var quality = labels is not null
                    ? $"top1 {Metrics.Top1Accuracy(output, labels):0.0000} (drop " +
                        $"{100 * (fp32Top1!.Value - Metrics.Top1Accuracy(output, labels)):0.00} pt)"
                    : $"cosine {Metrics.CosineSimilarity(fp32Out, output):0.0000}";
                var p50 = Median(latency[name]);
                yield return [modelName, name, $"{p50:0.00}", $"{p50 / baseP50:0.00}", $"{(double)new FileInfo(path).Length / baseSize:0.00}",
                    quality, Kernels(path, work)];
            }
            if (int8Bound) yield return BoundRow(modelName, fp32Path, one, baseP50);
        }
        finally
        {
            // MODELBUILD_BENCH_KEEP=1 leaves the built variants for inspection.
            if (Environment.GetEnvironmentVariable("MODELBUILD_BENCH_KEEP") == "1") Console.Error.WriteLine($"bench: variants kept in {work}");
            else Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// The shorthand variant names as deploy.yaml writes them: bench builds every variant the way a build does
    /// (the manifest binder, PassPlanner and the passes' options records), so a figure here is a figure there.
    /// CALIB, SAMPLES, PRUNE, ROUND, FINETUNE and QAT_TRAINING are filled in from the target's options.
    /// </summary>
    private static readonly Dictionary<string, string> Shorthands = new(StringComparer.Ordinal)
    {
        ["static"] = "{ name: static, quantize: { mode: static, per_channel: true, calibration: CALIB } }",
        ["dynamic"] = "{ name: dynamic, quantize: { mode: dynamic, per_channel: true } }",
        ["dynamic-conv"] = "{ name: dynamic-conv, quantize: { mode: dynamic, per_channel: true, ops: DYNAMIC_OPS } }",
        ["dynamic-aa"] = "{ name: dynamic-aa, quantize: { mode: dynamic, per_channel: true, accuracy_aware: true } }",
        ["fp16"] = "{ name: fp16, fp16: true }",
        ["pruned"] = "{ name: pruned, prune: { method: l1-structured, amount: PRUNE, round_to: ROUND FINETUNE} }",
        ["pruned-static"] = "{ name: pruned-static, from: pruned, quantize: { mode: static, per_channel: true, calibration: CALIB } }",
        ["qat"] = "{ name: qat, quantize: { mode: qat, calibration: CALIB, finetune: QAT_TRAINING } }",
    };

    /// <summary>
    /// Writes the variants into a manifest for the model (with, for accuracy-aware variants, judge data and the goal
    /// as checks.accuracy), loads it as a build would, and runs each variant's planned passes from its parent.
    /// Returns the requested variants' files with their row labels.
    /// </summary>
    private static List<(string Name, string Path)> BuildVariants(BenchTarget target, string[] shorthands, string[] extraVariants,
        string? calibration, int? calibrationSamples, ModelInterface io, string work)
    {
        var unknown = shorthands.Where(v => !Shorthands.ContainsKey(v)).ToList();
        if (unknown.Count > 0)
            throw new ModelBuildException(DiagnosticCodes.InvalidValue,
                $"bench: unknown variant '{unknown[0]}' ({string.Join(", ", Shorthands.Keys)}; or give deploy.yaml variants with --variant)", Where);
        var I = System.Globalization.CultureInfo.InvariantCulture;
        // The training run from train=, epochs=, lr=, schedule=, distill=: prune.finetune's and quantize.finetune's keys alike.
        var training = target.Train is { } train
            ? $"{{ data: {Quote(train)}, epochs: {target.Epochs}, learning_rate: {target.LearningRate.ToString("R", I)}, " +
              $"schedule: {(target.Schedule == FinetuneSchedule.None ? "none" : "cosine")}, distill: {target.Distill.ToString("R", I)} }}"
            : null;
        if (shorthands.Contains("qat") && training is null)
            throw new ModelBuildException(DiagnosticCodes.InvalidValue, "bench: variant 'qat' fine-tunes: give ,train=FILE (.npz with labels)", Where);
        var finetune = training is null ? "" : $", finetune: {training}";
        var qatTraining = training ?? "null";
        var calib = calibration is null ? "null"
            : $"{{ data: {Quote(calibration)}" + (calibrationSamples is { } n ? $", samples: {n}" : "") + " }";
        string Expand(string yaml) => yaml
            .Replace("QAT_TRAINING", qatTraining, StringComparison.Ordinal)
            .Replace("CALIB", calib, StringComparison.Ordinal)
            .Replace("DYNAMIC_OPS", "[" + string.Join(", ", QuantizableOps.For(QuantizeMode.Dynamic).Order(StringComparer.Ordinal)) + "]",
                StringComparison.Ordinal)
            .Replace("PRUNE", target.PruneAmount.ToString("R", I), StringComparison.Ordinal)
            .Replace("ROUND", target.RoundTo.ToString(I), StringComparison.Ordinal)
            .Replace("FINETUNE", finetune, StringComparison.Ordinal);
        // A chained variant needs its parent in the manifest, reported or not.
        var requested = shorthands.ToList();
        var listed = requested.Contains("pruned-static") && !requested.Contains("pruned") ? requested.Prepend("pruned").ToList() : requested;
        var variantYaml = listed.Select(v => Expand(Shorthands[v])).Concat(extraVariants).ToList();

        // Accuracy-aware variants go to a second model entry that carries their goal (judge data as evaluate data,
        // the goal as checks.accuracy), so the other variants' passes see no accuracy goal, as in bench before.
        var plain = variantYaml.Where(v => !v.Contains("accuracy_aware: true", StringComparison.Ordinal)).ToList();
        var aware = variantYaml.Except(plain).ToList();
        var judge = Path.Combine(work, "judge.npz");
        // Accuracy-aware: judged on other inputs than the ones reported (text rows packed in reverse sentence order).
        if (aware.Count > 0) NpzWriter.Write(judge, Synthetic(io, 8, target.Sequence, target.Vocab, reversed: true));
        IEnumerable<string> Model(string name, IReadOnlyList<string> variantsOfModel, bool goal) => variantsOfModel.Count == 0 ? [] :
        [
            $"  - name: {name}",
            $"    source: {Quote(target.Model)}",
            .. goal
                ? new[] { $"    evaluate: {{ data: {Quote(judge)}, metric: cosine }}",
                    $"    checks: {{ accuracy: {{ min: {(1 - AccuracyAwareMaxDrop).ToString("R", I)} }} }}" }
                : [],
            "    variants:",
            .. variantsOfModel.Select(v => "      - " + v),
        ];
        var manifest = Path.Combine(work, "bench.yaml");
        File.WriteAllLines(manifest, ["schema: 1", "models:", .. Model("bench", plain, false), .. Model("bench_aa", aware, true)]);

        var diagnostics = new DiagnosticBag();
        diagnostics.Reported += CommandRunner.Report;
        var specs = ManifestSet.Load([manifest], diagnostics, ToolInfo.Version)?.Single().Models
            ?? throw new ModelBuildException(DiagnosticCodes.InvalidValue, "bench: the variants above are not valid deploy.yaml variants", Where);
        var tuner = new ModelBuild.Tool.Torch.OnDemandTorch(ModelBuild.Tool.Torch.TorchSettings.ForCommandLine());
        var built = new List<(string Name, string Path)>();
        foreach (var spec in specs)
        {
            var paths = new Dictionary<string, string>(StringComparer.Ordinal) { [VariantSpec.BaseName] = target.Model };
            foreach (var variant in ModelBuild.Pipeline.VariantOrder.Sort(spec.Variants))
            {
                var name = variant.Name.Value;
                var output = Path.Combine(work, name + ".onnx");
                var outcome = PassChain.Run(PassPlanner.Plan(variant, spec, tuner), paths[ModelBuild.Pipeline.VariantOrder.ParentOf(variant)], output,
                    "bench", name, CancellationToken.None);
                paths[name] = output;
                foreach (var note in outcome.Notes) Console.Error.WriteLine($"bench: {Path.GetFileName(target.Model)} {name}: {note}");
                if (name == "pruned" && !requested.Contains("pruned") && listed.Contains("pruned")) continue;
                built.Add((Label(name) + (variant.Quantize is { Mode: QuantizeMode.Static } && target.Calibration is null
                    ? " (synthetic calib)" : ""), output));
            }
        }
        return built;

        string Label(string name)
        {
            var prune = $"pruned {target.PruneAmount:0.##}/{target.RoundTo}" + (target.Train is null ? "" : $" +ft{target.Epochs}")
                + (target.LearningRate != 1e-3 ? $" lr {target.LearningRate:0.#####}" : "")
                + (target.Schedule == FinetuneSchedule.None ? " const lr" : "")
                + (target.Distill > 0 ? $" kd {target.Distill:0.##}" : "");
            return name switch { "pruned" => prune, "pruned-static" => prune + " → static", _ => name };
        }
    }

    /// <summary>The int8 bound as a row: its p50 is fp32's scaled by the bound's ratio; the last column says what it rests on.</summary>
    private static string[] BoundRow(string modelName, string fp32Path, IReadOnlyDictionary<string, NdArray> one, double baseP50)
    {
        var bound = Int8LatencyBound.Measure(fp32Path, one, Where);
        if (!bound.Holds)
            return [modelName, "int8 bound", "-", "-", "-", "-", $"none: convolutions are {100 * bound.ConvShare:0}% of fp32 kernel time (only MatMul/Gemm are covered)"];
        if (bound.Kernels.Count == 0) return [modelName, "int8 bound", "-", "-", "-", "-", "none: no MatMul/Gemm with a constant weight"];
        var speedups = bound.Kernels.Select(k => k.Speedup).ToList();
        var gmacs = bound.Kernels.Select(k => k.Int8Gmacs).ToList();
        return [modelName, "int8 bound", $"{baseP50 * bound.Ratio:0.00}", $"{bound.Ratio:0.00}", "-", "-",
            $"weight GEMMs {100 * bound.GemmShare:0}% of fp32 kernel time; int8 {speedups.Min():0.0}–{speedups.Max():0.0}× " +
            $"({gmacs.Min():0}–{gmacs.Max():0} GMAC/s) at {bound.Kernels.Count} shape(s): " +
            string.Join(", ", bound.Kernels.Select(k => $"{k.Shape} {k.Int8Kernel}"))];
    }

    private static string Quote(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>
    /// What ONNX Runtime actually runs: its extended-level optimized graph's int8 kernels and the heavy ops left in
    /// float (a DQ→op→Q group it did not fuse runs as float op between Q/DQ).
    /// </summary>
    private static string Kernels(string path, string work)
    {
        var optimized = Path.Combine(work, $"ort-{Guid.NewGuid():N}.onnx");
        try
        {
            new OptimizePass(OptimizationLevel.Extended, Where).Run(new PassContext(path, optimized, "bench", "kernels", CancellationToken.None));
            var ops = OnnxModelFile.Load(optimized, Where).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
            string[] int8 = ["QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool",
                "QLinearSigmoid", "QLinearLeakyRelu", "QAttention", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger", "ConvInteger",
                "DynamicQuantizeLSTM"];
            string[] heavy = ["Conv", "MatMul", "Gemm", "Add", "FusedConv", "FusedMatMul", "FusedGemm", "Attention", "LSTM"];
            var a = string.Join(" ", int8.Where(ops.ContainsKey).Select(o => $"{o}×{ops[o]}"));
            var f = string.Join(" ", heavy.Where(ops.ContainsKey).Select(o => $"{o}×{ops[o]}"));
            return (a.Length > 0 ? "int8 " + a + "; " : "") + "float " + (f.Length > 0 ? f : "-");
        }
        catch (ModelBuildException e)
        {
            return "? " + e.Message;
        }
        finally
        {
            File.Delete(optimized);
        }
    }

    /// <summary>
    /// Synthetic inputs; int64 token-style inputs get plausible values (all-ones mask, zero segment ids, and ids: with a
    /// vocab.txt, WordPiece tokens of real English text packed into full-length [CLS] … [SEP] rows; without one,
    /// uniform ids in [1000, 20000)).
    /// </summary>
    private static Dictionary<string, NdArray> Synthetic(ModelInterface io, int batch, int sequence, string? vocab = null, bool reversed = false)
    {
        var result = new Dictionary<string, NdArray>(StringComparer.Ordinal);
        var rng = new Random(7);
        var tokens = vocab is not null ? new WordPieceTokenizer(vocab) : null;
        foreach (var input in io.Inputs)
        {
            // Axis 0 is the sample axis even for fixed-batch models; runs slice it to the model's own batch.
            var shape = input.Dims.Select((d, axis) => axis == 0 ? batch : d.Size ?? sequence).ToArray();
            var count = (int)NdArray.ElementCount(shape);
            if (input.ElementType == TensorElementType.Int64)
            {
                var name = input.Name.ToLowerInvariant();
                var values = new long[count];
                for (var i = 0; i < count; i++)
                    values[i] = name.Contains("mask") ? 1 : name.Contains("type") ? 0 : rng.Next(1000, 20000);
                if (tokens is not null && !name.Contains("mask") && !name.Contains("type"))
                    values = tokens.Rows(batch, (int)(count / batch), reversed);
                result[input.Name] = new NdArray(TensorElementType.Int64, shape, values);
            }
            else
            {
                result[input.Name] =
                    SyntheticInputs.Generate([input with { Dims = shape.Select(Dimension.Fixed).ToList() }], (int)shape[0], 7)[input.Name];
            }
        }
        return result;
    }

    private static NdArray RunAll(string path, IReadOnlyDictionary<string, NdArray> inputs, ModelInterface io)
    {
        using var runner = new ModelRunner(path, Where);
        var count = inputs.Values.First().Shape[0];
        var batch = BatchedRunner.BatchSizeFor(io, 64);
        var dynamic = io.Inputs.All(i => i.HasDynamicBatch);
        var parts = new List<NdArray>();
        for (long start = 0; start < count; start += batch)
        {
            var size = dynamic ? Math.Min(batch, count - start) : batch;
            if (start + size > count) break;
            parts.Add(runner.Run(inputs.ToDictionary(kv => kv.Key, kv => kv.Value.Slice(start, size)))[runner.OutputNames[0]]);
        }
        return NdArrayConcat.AlongFirstAxis(parts);
    }

    private static double P50(string path, IReadOnlyDictionary<string, NdArray> one, int batch)
    {
        using var runner = new ModelRunner(path, Where, intraOpThreads: 1);
        return new LatencyBenchmark(warmupRuns: 5, minRuns: 20, maxRuns: 300, minSeconds: 0.6)
            .Measure(runner, one, (int)one.Values.First().Shape[0]).P50Ms;
    }

    /// <summary>MODELBUILD_BENCH_PROFILE=1: ONNX Runtime's own per-node timings (<see cref="NodeProfiler"/>), summed by kernel, to stderr.</summary>
    private static void Profile(string model, string variant, string path, IReadOnlyDictionary<string, NdArray> one)
    {
        var byOp = NodeProfiler.Profile(path, one, Where).GroupBy(n => n.OpType).Select(g => (Op: g.Key, Us: g.Sum(n => n.Microseconds)));
        Console.Error.WriteLine($"profile {model} {variant}: " +
            string.Join(", ", byOp.OrderByDescending(o => o.Us).Take(10).Select(o => $"{o.Op} {o.Us:0} µs")));
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static void Print(List<string[]> rows)
    {
        string[] header = ["model", "variant", "p50 ms", "p50 ratio", "size ratio", "accuracy", "ORT kernels"];
        var all = rows.Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(c => all.Max(r => r[c].Length)).ToArray();
        Console.WriteLine("one intra-op thread, batch 1 unless noted; ratios are variant / fp32");
        foreach (var row in all)
            Console.WriteLine(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
    }
}
