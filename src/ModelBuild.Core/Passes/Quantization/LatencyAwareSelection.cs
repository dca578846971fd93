using System.Globalization;
using System.Text.RegularExpressions;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Execution;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// Latency-aware int8: which quantized nodes pay on the machine that builds. ONNX Runtime's profiler times the float
/// model and the quantized one on the same input (one intra-op thread); each candidate node (a Conv/Gemm/MatMul/Add/Mul,
/// or what the dynamic quantizer rewrites) is charged, in the float model, the kernel ONNX Runtime made of it (a
/// FusedConv with its Relu), and in the quantized model its int8 kernel plus every QuantizeLinear, DequantizeLinear or
/// DynamicQuantizeLinear left unfused at its inputs and output (a tensor's Q goes to the node that computed it when
/// that is a candidate, else shared by the candidates that read it). A node whose int8 time is above its float time
/// by more than <see cref="NodeMargin"/> is kept float. When some are, the whole model's p50 is compared with the
/// parent's (alternating, <see cref="VerifyRounds"/> rounds, medians) for the all-int8 model, the per-node mix, and
/// the best contiguous int8 regions (<see cref="Int8Regions"/>); the fastest goes on when it is within
/// <see cref="Tolerance"/> of the parent. Otherwise, from the per-node mix, the quantized candidates that gained least
/// are kept float too, a quarter of them per round; after <see cref="MaxRounds"/> rounds the variant falls back to
/// its parent (null).
/// </summary>
public sealed partial class LatencyAwareSelection(SourceLocation location)
{
    /// <summary>A node stays int8 unless quantized it is slower than float by more than this fraction (and 0.5 µs).</summary>
    public const double NodeMargin = 0.05;

    /// <summary>The variant's p50 may exceed its parent's by this fraction, the noise of a p50 on a busy machine.</summary>
    public const double Tolerance = 0.03;

    public const int VerifyRounds = 3;
    public const int MaxRounds = 4;

    /// <summary>Activations ONNX Runtime fuses into the float kernel (FusedConv/FusedGemm): kept float with their producer.</summary>
    private static readonly HashSet<string> FusedActivations = new(StringComparer.Ordinal)
    {
        "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid",
    };

    /// <summary>A candidate: the node quantization rewrites, and the activations that go float with it.</summary>
    public sealed record Candidate(NodeProto Node, IReadOnlyList<string> Followers)
    {
        public IEnumerable<string> Names => Followers.Prepend(Node.Name);
    }

    /// <summary>The candidates among <paramref name="nodes"/>, with their single-reader activation chains in <paramref name="model"/>.</summary>
    public static List<Candidate> Candidates(ModelProto model, IEnumerable<NodeProto> nodes)
    {
        var g = new GraphEditor(model.Clone());
        var result = new List<Candidate>();
        foreach (var node in nodes.Where(n => n.Name.Length > 0 && n.Output.Count > 0))
        {
            var followers = new List<string>();
            var tensor = node.Output[0];
            while (g.ConsumersOf(tensor) is [var next] && FusedActivations.Contains(next.OpType) && !g.GraphOutputs.Contains(tensor)
                   && next.Name.Length > 0 && followers.Count < 3)
            {
                followers.Add(next.Name);
                tensor = next.Output[0];
            }
            result.Add(new Candidate(node, followers));
        }
        return result;
    }

    /// <summary>What the selection decided: the model to write (null: the parent), the nodes it kept float, and its notes.</summary>
    public sealed record Outcome(ModelProto? Model, IReadOnlyList<KeptFloatNode> KeptFloat, IReadOnlyList<string> Notes,
        IReadOnlySet<string> Excluded);

    /// <param name="floatModel">The float model the quantizer read (node names as in <paramref name="quantized"/>).</param>
    /// <param name="parentPath">The variant's parent: the latency to beat.</param>
    /// <param name="build">Quantizes again with the given nodes excluded.</param>
    public Outcome Select(ModelProto floatModel, string parentPath, ModelProto quantized, IReadOnlyList<Candidate> candidates,
        IReadOnlySet<string> excluded, Func<IReadOnlySet<string>, ModelProto> build, IReadOnlyDictionary<string, NdArray> input,
        CancellationToken cancellation)
    {
        var notes = new List<string>();
        var kept = new List<KeptFloatNode>();
        var exclude = new HashSet<string>(excluded, StringComparer.Ordinal);
        var live = candidates.Where(c => !exclude.Contains(c.Node.Name)).ToList();
        using var dir = new TempFolder();
        var floatPath = dir.Write("float.onnx", floatModel);
        var floatTimes = Charge(floatModel, live, NodeProfiler.Profile(floatPath, input, location));
        var int8Times = Charge(floatModel, live, NodeProfiler.Profile(dir.Write("int8.onnx", quantized), input, location));
        var gains = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var c in live)
        {
            var f = floatTimes.GetValueOrDefault(c.Node.Name);
            var q = int8Times.GetValueOrDefault(c.Node.Name);
            gains[c.Node.Name] = f - q;
            if (f > 0 && q > f * (1 + NodeMargin) + 0.5)
            {
                foreach (var n in c.Names) exclude.Add(n);
                kept.Add(Kept(c, floatTimes, int8Times, "slower quantized"));
            }
        }
        notes.Add($"latency-aware: {kept.Count} of {live.Count} node(s) slower quantized on this machine, kept in float" +
            (kept.Count == 0 ? "" : ": " + string.Join(", ", kept.Select(k => $"'{k.Node}' {F(k.FloatMicroseconds)} µs float vs {F(k.Int8Microseconds)} µs int8"))));
        var everyNodeSlower = live.All(c => exclude.Contains(c.Node.Name));
        var model = kept.Count > 0 && !everyNodeSlower ? build(exclude) : quantized;
        if (kept.Count > 0)
        {
            // Float islands cost layout changes and Q/DQ pairs at their edges that no single node shows, so the
            // per-node mix is timed beside the all-int8 model and the best contiguous int8 regions (Int8Regions), and
            // the fastest goes on (MobileNetV3-Small at 224²: all-int8 1.33×, per-node mix 1.38×, int8 from block 9 on 0.88×).
            // All-int8 even when every node looked slower on its own: per-node charges miss what int8 saves between
            // nodes (MobileNetV3-Small at 64²: 35 of 69 nodes slower, the all-int8 model 0.65× fp32).
            var proposals = new List<Proposal> { new("all-int8", quantized, new HashSet<string>(excluded, StringComparer.Ordinal), []) };
            if (!everyNodeSlower) proposals.Add(new Proposal($"the {kept.Count} slow node(s) float", model, exclude, kept));
            var position = floatModel.Graph.Node.Select((n, i) => (n.Name, i)).Where(p => p.Name.Length > 0)
                .GroupBy(p => p.Name).ToDictionary(g => g.Key, g => g.First().i, StringComparer.Ordinal);
            var placed = live.Where(c => position.ContainsKey(c.Node.Name)).ToList();
            foreach (var region in Int8Regions.Propose(Int8Regions.Cuts(floatModel.Graph),
                         placed.Select(c => (position[c.Node.Name], gains[c.Node.Name])).ToList()))
            {
                var outside = placed.Where(c => !Int8Regions.Contains(region, position[c.Node.Name])).ToList();
                if (outside.Count == 0) continue;
                var regionExclude = new HashSet<string>(excluded, StringComparer.Ordinal);
                foreach (var n in outside.SelectMany(c => c.Names)) regionExclude.Add(n);
                var label = $"int8 region {region.Kind} (nodes {region.Start}–{region.End - 1} of {floatModel.Graph.Node.Count}, " +
                    $"estimated gain {region.Gain:0} µs)";
                var regionKept = outside.Select(c => Kept(c, floatTimes, int8Times, $"outside the {label}")).ToList();
                proposals.Add(new Proposal(label, build(regionExclude), regionExclude, regionKept));
            }
            Proposal? fastest = null;
            var fastestRatio = double.MaxValue;
            foreach (var proposal in proposals)
            {
                cancellation.ThrowIfCancellationRequested();
                var (parent, variant) = CompareP50(parentPath, dir.Write("proposal.onnx", proposal.Model), input, cancellation);
                var ratio = variant / parent;
                notes.Add($"latency-aware: {proposal.Label}: p50 {ratio:0.00}× parent");
                // In order (all-int8 first, then fewer int8 nodes): a later one must be faster by more than timing noise.
                if (ratio < fastestRatio * (1 - Tolerance)) (fastest, fastestRatio) = (proposal, ratio);
            }
            if (fastest is not null && fastestRatio <= 1 + Tolerance)
            {
                notes.Add($"latency-aware: kept {fastest.Label}");
                return new Outcome(fastest.Model, fastest.Kept, notes, fastest.Exclude);
            }
        }

        for (var round = 0; ; round++)
        {
            cancellation.ThrowIfCancellationRequested();
            if (live.All(c => exclude.Contains(c.Node.Name)))
            {
                notes.Add("latency-aware: every node runs slower quantized on this machine; the variant is its parent");
                return new Outcome(null, kept, notes, exclude);
            }
            var (parent, variant) = CompareP50(parentPath, dir.Write($"round{round}.onnx", model), input, cancellation);
            notes.Add($"latency-aware round {round}: p50 {variant:0.###} ms vs parent {parent:0.###} ms ({variant / parent:0.00}×)");
            if (variant <= parent * (1 + Tolerance)) return new Outcome(model, kept, notes, exclude);
            var remaining = live.Where(c => !exclude.Contains(c.Node.Name)).OrderBy(c => gains[c.Node.Name]).ToList();
            if (round + 1 >= MaxRounds) break;
            foreach (var c in remaining.Take(Math.Max(1, (remaining.Count + 3) / 4)))
            {
                foreach (var n in c.Names) exclude.Add(n);
                kept.Add(Kept(c, floatTimes, int8Times,
                    $"the whole model was still slower than its parent in round {round}; least gain quantized"));
            }
            model = build(exclude);
        }
        notes.Add($"latency-aware: int8 stays slower than the parent after {MaxRounds} rounds; the variant is its parent");
        return new Outcome(null, kept, notes, exclude);
    }

    /// <summary>A quantized model the selection times against the parent, the nodes it leaves float, and what it is.</summary>
    private sealed record Proposal(string Label, ModelProto Model, IReadOnlySet<string> Exclude, IReadOnlyList<KeptFloatNode> Kept);

    private static KeptFloatNode Kept(Candidate c, Dictionary<string, double> floatTimes, Dictionary<string, double> int8Times, string detail) =>
        new(c.Node.Name, c.Node.OpType, KeptFloatNode.Speed,
            floatTimes.TryGetValue(c.Node.Name, out var f) ? Math.Round(f, 2) : null,
            int8Times.TryGetValue(c.Node.Name, out var q) ? Math.Round(q, 2) : null, detail);

    /// <summary>Each candidate's time in one profile, by the attribution rules in the class summary.</summary>
    internal static Dictionary<string, double> Charge(ModelProto floatModel, IReadOnlyList<Candidate> candidates, IReadOnlyList<NodeTime> profile)
    {
        var g = new GraphEditor(floatModel.Clone());
        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var c in candidates)
            foreach (var n in c.Names) owner[n] = c.Node.Name;
        var byName = g.Graph.Node.Where(n => n.Name.Length > 0).GroupBy(n => n.Name).ToDictionary(x => x.Key, x => x.First(), StringComparer.Ordinal);
        var times = new Dictionary<string, double>(StringComparer.Ordinal);
        void Add(string candidate, double us) => times[candidate] = times.GetValueOrDefault(candidate) + us;

        foreach (var t in profile)
        {
            var name = Token().Replace(t.Node, "");
            if (name.StartsWith("fused ", StringComparison.Ordinal)) name = name["fused ".Length..];
            if (t.OpType is "QuantizeLinear" or "DequantizeLinear" or "DynamicQuantizeLinear"
                && TensorOf(name) is { } tensor && (g.ProducerOf(tensor) is not null || g.GraphInputs.Contains(tensor)))
            {
                if (g.ProducerOf(tensor) is { } producer && owner.TryGetValue(producer.Name, out var by))
                {
                    Add(by, t.Microseconds);
                    continue;
                }
                var readers = ReadersThroughMoves(g, tensor).Where(owner.ContainsKey).Select(n => owner[n]).Distinct().ToList();
                foreach (var r in readers) Add(r, t.Microseconds / readers.Count);
                continue;
            }
            // NCHWc kernels are named after the tensor they write: the last activation fused into the node.
            if (name.EndsWith("_nchwc", StringComparison.Ordinal) && g.ProducerOf(name[..^"_nchwc".Length]) is { } writer)
                name = writer.Name;
            var target = owner.GetValueOrDefault(name) ?? (byName.ContainsKey(name) ? null : Prefixed(name, owner));
            if (target is not null) Add(target, t.Microseconds);
        }
        return times;
    }

    /// <summary>The candidate whose name, followed by '_', starts <paramref name="name"/> (a dynamic rewrite's nodes), longest first.</summary>
    private static string? Prefixed(string name, Dictionary<string, string> owner) =>
        owner.Keys.Where(k => name.StartsWith(k + "_", StringComparison.Ordinal)).OrderByDescending(k => k.Length).Select(k => owner[k]).FirstOrDefault();

    /// <summary>The tensor a quantizer's Q/DQ node is named after (TENSOR_QuantizeLinear, …), or null.</summary>
    private static string? TensorOf(string name)
    {
        foreach (var suffix in new[] { "_DynamicQuantizeLinear", "_QuantizeLinear", "_DequantizeLinear" })
            if (name.EndsWith(suffix, StringComparison.Ordinal)) return name[..^suffix.Length];
        return null;
    }

    /// <summary>The nodes reading a tensor, looking through ops that only move values (MaxPool, Flatten, Reshape, …).</summary>
    private static IEnumerable<string> ReadersThroughMoves(GraphEditor g, string tensor, int depth = 0)
    {
        foreach (var reader in g.ConsumersOf(tensor))
        {
            if (depth < 4 && reader.OpType is "MaxPool" or "Flatten" or "Reshape" or "Transpose" or "Squeeze" or "Unsqueeze")
            {
                foreach (var r in ReadersThroughMoves(g, reader.Output[0], depth + 1)) yield return r;
            }
            else
            {
                yield return reader.Name;
            }
        }
    }

    /// <summary>Median p50s of the parent and the variant, measured alternately so background load hits both alike.</summary>
    private (double Parent, double Variant) CompareP50(string parentPath, string variantPath, IReadOnlyDictionary<string, NdArray> input,
        CancellationToken cancellation)
    {
        var bench = new LatencyBenchmark(warmupRuns: 5, minRuns: 20, maxRuns: 300, minSeconds: 0.3, maxSeconds: 4);
        var batch = (int)input.Values.First().Shape[0];
        using var parent = new ModelRunner(parentPath, location);
        using var variant = new ModelRunner(variantPath, location);
        var p = new List<double>();
        var v = new List<double>();
        for (var i = 0; i < VerifyRounds; i++)
        {
            p.Add(bench.Measure(parent, input, batch, cancellation).P50Ms);
            v.Add(bench.Measure(variant, input, batch, cancellation).P50Ms);
        }
        return (p.Order().ElementAt(VerifyRounds / 2), v.Order().ElementAt(VerifyRounds / 2));
    }

    private static string F(double? us) => us is { } v ? v.ToString("0.#", CultureInfo.InvariantCulture) : "?";

    [GeneratedRegex("(_token_[0-9]+)+$")]
    private static partial Regex Token();

    /// <summary>A temporary folder for the models ONNX Runtime reads from disk.</summary>
    private sealed class TempFolder : IDisposable
    {
        private readonly string _path = Directory.CreateTempSubdirectory("modelbuild-latency-").FullName;

        public string Write(string name, ModelProto model)
        {
            var path = Path.Combine(_path, name);
            File.WriteAllBytes(path, OnnxModelFile.Serialize(model));
            return path;
        }

        public void Dispose() => Directory.Delete(_path, recursive: true);
    }
}
