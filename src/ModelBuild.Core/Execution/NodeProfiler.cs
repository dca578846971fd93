using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

namespace ModelBuild.Execution;

/// <summary>One node of the graph ONNX Runtime ran (after its own optimizations), and its kernel time per run.</summary>
/// <param name="Node">The node's name in ONNX Runtime's optimized graph (fused nodes get new names).</param>
/// <param name="OpType">The kernel's op type (QLinearConv, FusedConv, QuantizeLinear, …).</param>
/// <param name="Microseconds">Its kernel time per run: the mean of the middle half of the profiled runs.</param>
/// <param name="Inputs">
/// The shapes of its inputs as ONNX Runtime's trace lists them: it leaves out a weight the kernel pre-packed (a MatMul
/// with one shape here multiplies by a weight; a Gemm lists A and its bias).
/// </param>
/// <param name="Outputs">The shapes of its outputs.</param>
public sealed record NodeTime(string Node, string OpType, double Microseconds, IReadOnlyList<long[]> Inputs, IReadOnlyList<long[]> Outputs);

/// <summary>
/// Per-node kernel times from ONNX Runtime's own profiler (SessionOptions.EnableProfiling), on one intra-op thread
/// as every latency figure here: the model runs up to <c>maxRuns</c> times (fewer when that would take more than
/// <c>budgetSeconds</c>, at least 10) after warm-up on the same inputs, and each node's time is the mean of the middle
/// half of its runs, so a run disturbed by other work on the machine does not move it (and the figure has a finer
/// grain than the trace's whole microseconds).
/// </summary>
public static class NodeProfiler
{
    private const int WarmupRuns = 5;

    public static IReadOnlyList<NodeTime> Profile(string modelPath, IReadOnlyDictionary<string, NdArray> inputs, SourceLocation location,
        int maxRuns = 60, double budgetSeconds = 2)
    {
        var prefix = Path.Combine(Path.GetTempPath(), $"modelbuild-profile-{Guid.NewGuid():N}");
        using var options = OrtSessionFactory.CreateOptions(1);
        options.EnableProfiling = true;
        options.ProfileOutputPathPrefix = prefix;
        string file;
        using (var session = OrtSessionFactory.Open(modelPath, options, location))
        {
            var names = inputs.Keys.ToArray();
            var values = names.Select(n => ModelRunner.ToOrtValue(inputs[n])).ToArray();
            try
            {
                using var runOptions = new RunOptions();
                var outputs = session.OutputNames.ToArray();
                var warmup = System.Diagnostics.Stopwatch.StartNew();
                for (var i = 0; i < WarmupRuns; i++)
                    using (session.Run(runOptions, names, values, outputs)) { }
                var perRun = warmup.Elapsed.TotalSeconds / WarmupRuns;
                var runs = (int)Math.Clamp(budgetSeconds / Math.Max(perRun, 1e-6), 10, maxRuns);
                for (var i = 0; i < runs; i++)
                    using (session.Run(runOptions, names, values, outputs)) { }
            }
            finally
            {
                foreach (var v in values) v.Dispose();
            }
            file = Path.GetFullPath(session.EndProfiling());
        }
        try
        {
            return Read(file, WarmupRuns);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The trace's node events ("NAME_kernel_time"), the first <paramref name="skipRuns"/> of each node dropped.</summary>
    private static List<NodeTime> Read(string file, int skipRuns)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(file));
        var times = new Dictionary<string, (string Op, List<double> Us, List<long[]> In, List<long[]> Out)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var e in json.RootElement.EnumerateArray())
        {
            if (e.GetProperty("cat").GetString() != "Node") continue;
            var name = e.GetProperty("name").GetString()!;
            if (!name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            name = name[..^"_kernel_time".Length];
            if (!times.TryGetValue(name, out var entry))
            {
                var args = e.GetProperty("args");
                times[name] = entry = (args.GetProperty("op_name").GetString()!, new List<double>(),
                    Shapes(args, "input_type_shape"), Shapes(args, "output_type_shape"));
                order.Add(name);
            }
            entry.Us.Add(e.GetProperty("dur").GetDouble());
        }
        return order.Select(n =>
        {
            var (op, us, inputs, outputs) = times[n];
            var kept = (us.Count > skipRuns ? us.Skip(skipRuns) : us).Order().ToList();
            var middle = kept.Skip(kept.Count / 4).Take(Math.Max(1, kept.Count - kept.Count / 4 * 2)).ToList();
            return new NodeTime(n, op, middle.Average(), inputs, outputs);
        }).ToList();
    }

    /// <summary>The trace's shapes: <c>[{"float": [1, 128, 384]}, …]</c>, one single-key object per tensor.</summary>
    private static List<long[]> Shapes(JsonElement args, string key) =>
        args.TryGetProperty(key, out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray()
                .SelectMany(t => t.ValueKind == JsonValueKind.Object ? t.EnumerateObject().Take(1) : [])
                .Select(p => p.Value.ValueKind == JsonValueKind.Array ? p.Value.EnumerateArray().Select(d => d.GetInt64()).ToArray() : [])
                .ToList()
            : [];
}
