using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using ModelBuild.Diagnostics;
using ModelBuild.Evaluation;
using ModelBuild.Runtime;
using ModelBuild.Serving;

namespace ModelBuild.Tool.Commands;

/// <summary>
/// <c>modelbuild bench-serve DIR</c>: a bounded load test on loopback. The same batch-1 request, sent by 1 and by 16
/// concurrent clients, to ONNX Runtime in process, to the server without batching and to the server with dynamic
/// batching; throughput, p50/p99 and the ratios the serving targets are stated in.
/// </summary>
internal static class BenchServeCommand
{
    private sealed record Result(string Target, int Clients, int Requests, int Failed, double Seconds, PercentileSummary LatencyMs, double MeanBatch)
    {
        public double Throughput => Requests / Seconds;
    }

    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo>("dir") { Description = "A ModelBuild output folder." };
        var model = new Option<string?>("--model") { Description = "The model to load-test (default: the first deployed model)." };
        var requests = new Option<int>("--requests") { Description = "Requests per measurement (after warm-up).", DefaultValueFactory = _ => 2000 };
        var seconds = new Option<double>("--max-seconds") { Description = "Time limit per measurement; it stops early at this bound.", DefaultValueFactory = _ => 10 };
        var clients = new Option<int[]>("--clients") { Description = "Concurrent client counts.", DefaultValueFactory = _ => [1, 16], AllowMultipleArgumentsPerToken = true };
        var enforce = new Option<bool>("--enforce") { Description = "Exit 1 when a target is missed (served ≥ 0.85× in-process at 1 client; batched ≥ 2× unbatched at the most clients)." };
        var shared = new ServeOptionsArguments();
        var command = new Command("bench-serve", "Load-test `modelbuild serve` on loopback against ONNX Runtime in process.")
        {
            dir, model, requests, seconds, clients, enforce,
        };
        shared.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(() =>
        {
            var count = parse.GetValue(requests);
            var limit = TimeSpan.FromSeconds(parse.GetValue(seconds));
            var clientCounts = parse.GetValue(clients)!.Distinct().Order().ToArray();
            if (count < 1 || limit <= TimeSpan.Zero || clientCounts.Length == 0 || clientCounts.Any(c => c is < 1 or > 256))
                throw new ModelBuildException(DiagnosticCodes.InvalidValue, "--requests and --max-seconds must be positive and --clients between 1 and 256");
            var options = shared.Apply(parse, new ServerOptions { Directory = parse.GetValue(dir)!.FullName, Port = 0 });
            return RunAsync(options, parse.GetValue(model), count, limit, clientCounts, parse.GetValue(enforce)).GetAwaiter().GetResult();
        }));
        return command;
    }

    private static async Task<ExitCode> RunAsync(ServerOptions options, string? modelName, int count, TimeSpan limit, int[] clientCounts, bool enforce)
    {
        var entries = DeployedModels.List(options.Directory);
        var entry = (modelName is null ? entries.FirstOrDefault() : entries.FirstOrDefault(e => e.Name == modelName))
            ?? throw new ModelBuildException(DiagnosticCodes.FileNotFound, $"'{options.Directory}' has no deployed model{(modelName is null ? "" : $" '{modelName}'")}");
        options = options with { Models = [entry.Name] };
        var results = new List<Result>();
        float[]? reference;

        using (var local = DeployedModel.Open(entry.Path, entry.Name, entry.Variant, new DeployedModelOptions { IntraOpThreads = options.IntraOpThreads }))
        {
            var inputs = SampleInputs(local);
            reference = local.Run(inputs)[0].Data as float[];
            Console.WriteLine($"model {entry.Name} ({entry.Variant ?? "model.onnx"}), batch-1 requests, {count} per measurement (≤ {limit.TotalSeconds:0.#} s), ORT intra-op threads {options.IntraOpThreads}");
            foreach (var c in clientCounts)
                results.Add(await Measure("in-process ORT", c, count, limit, () => { local.Run(inputs); return Task.FromResult(true); }, null));

            var body = RequestBody(inputs);
            foreach (var (target, server) in new[] { ("served, unbatched", options with { MaxBatchSize = 1 }), ("served, dynamic batching", options) })
            {
                await using var s = await ModelServer.StartAsync(server);
                using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, UseProxy = false }) { BaseAddress = s.Address };
                var url = $"v2/models/{entry.Name}/infer";
                await CheckFirstResponse(http, url, body, reference);
                foreach (var c in clientCounts)
                {
                    var before = Snapshot(s, entry.Name);
                    var r = await Measure(target, c, count, limit, async () =>
                    {
                        using var content = new ByteArrayContent(body);
                        content.Headers.ContentType = new("application/json");
                        using var response = await http.PostAsync(url, content);
                        await response.Content.ReadAsByteArrayAsync();
                        return response.StatusCode == HttpStatusCode.OK;
                    }, () => MeanBatchSince(s, entry.Name, before));
                    results.Add(r);
                }
            }
        }

        Print(results);
        return Judge(results, clientCounts) || !enforce ? (results.Any(r => r.Failed > 0) ? ExitCode.CheckFailed : ExitCode.Success) : ExitCode.CheckFailed;
    }

    private static async Task<Result> Measure(string target, int clients, int count, TimeSpan limit, Func<Task<bool>> call, Func<double>? meanBatch)
    {
        // Warm-up: sessions, connections, JIT.
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () => { for (var i = 0; i < 20; i++) await call(); })));
        var latencies = new double[count];
        var next = -1;
        var failed = 0;
        var deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count && Stopwatch.GetTimestamp() < deadline)
            {
                var t = Stopwatch.GetTimestamp();
                bool ok;
                try { ok = await call(); }
                catch (HttpRequestException) { ok = false; }
                latencies[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                if (!ok) Interlocked.Increment(ref failed);
            }
        })));
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var done = Math.Min(count, next);
        return new Result(target, clients, done, failed, elapsed, Percentiles.Summarize(latencies[..Math.Max(done, 1)]), meanBatch?.Invoke() ?? 1);
    }

    private static (double Executions, double Rows) Snapshot(ModelServer s, string model) => (s.Metrics.Executions(model), s.Metrics.Inferences(model));

    private static double MeanBatchSince(ModelServer s, string model, (double Executions, double Rows) before)
    {
        var executions = s.Metrics.Executions(model) - before.Executions;
        return executions == 0 ? 0 : (s.Metrics.Inferences(model) - before.Rows) / executions;
    }

    private static async Task CheckFirstResponse(HttpClient http, string url, byte[] body, float[]? reference)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");
        using var response = await http.PostAsync(url, content);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
            throw new ModelBuildException(DiagnosticCodes.Internal, $"the server answered {(int)response.StatusCode}: {text}");
        if (reference is null) return;
        using var json = JsonDocument.Parse(text);
        var data = json.RootElement.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var maxAbs = data.Zip(reference, (a, b) => Math.Abs(a - b)).DefaultIfEmpty(0).Max();
        if (data.Length != reference.Length || maxAbs > 1e-5)
            throw new ModelBuildException(DiagnosticCodes.Internal, $"served outputs differ from in-process ONNX Runtime (max abs {maxAbs})");
    }

    /// <summary>One batch row per input, deterministic values; dynamic non-batch axes get size 1.</summary>
    private static IReadOnlyList<ModelTensor> SampleInputs(DeployedModel model)
    {
        var random = new Random(1234);
        return model.Inputs.Select(spec =>
        {
            var shape = spec.Dims.Select(d => d < 0 ? 1L : d).ToArray();
            var n = (int)shape.Aggregate(1L, (a, b) => a * b);
            var data = TensorTypes.NewArray(spec.Type, n);
            for (var i = 0; i < n; i++)
                data.SetValue(spec.Type switch
                {
                    TensorType.Float32 => (object)(float)(random.NextDouble() * 2 - 1),
                    TensorType.Float64 => random.NextDouble() * 2 - 1,
                    TensorType.Float16 => (Half)(random.NextDouble() * 2 - 1),
                    TensorType.Bool => random.Next(2) == 1,
                    TensorType.Int64 => 0L,
                    TensorType.Int32 => 0,
                    TensorType.Int8 => (sbyte)0,
                    _ => (byte)0,
                }, i);
            return new ModelTensor(spec.Name, data, shape);
        }).ToList();
    }

    private static byte[] RequestBody(IReadOnlyList<ModelTensor> inputs)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("inputs");
            foreach (var t in inputs)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteString("datatype", KServeTypes.Name(t.Type));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WritePropertyName("data");
                JsonSerializer.Serialize(w, t.Data, t.Data.GetType());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void Print(List<Result> results)
    {
        var o = new StringBuilder();
        o.AppendLine();
        o.AppendLine($"{"target",-26} {"clients",7} {"requests",8} {"failed",6} {"req/s",9} {"p50 ms",8} {"p99 ms",8} {"batch",6}");
        foreach (var r in results)
            o.AppendLine($"{r.Target,-26} {r.Clients,7} {r.Requests,8} {r.Failed,6} {r.Throughput,9:F0} {r.LatencyMs.P50,8:F3} {r.LatencyMs.P99,8:F3} {r.MeanBatch,6:F2}");
        Console.Write(o.ToString());
    }

    /// <summary>Prints the ratios the targets are stated in; true when every target is met.</summary>
    private static bool Judge(List<Result> results, int[] clientCounts)
    {
        double Tp(string target, int clients) => results.First(r => r.Target == target && r.Clients == clients).Throughput;
        var ok = results.All(r => r.Failed == 0);
        var one = clientCounts.Contains(1) ? 1 : clientCounts[0];
        var most = clientCounts[^1];
        var unbatched1 = Tp("served, unbatched", one) / Tp("in-process ORT", one);
        var batched1 = Tp("served, dynamic batching", one) / Tp("in-process ORT", one);
        var batching = Tp("served, dynamic batching", most) / Tp("served, unbatched", most);
        Console.WriteLine();
        Console.WriteLine($"served (batching) / in-process at {one} client(s): {batched1:F2}x (target >= 0.85) {(batched1 >= 0.85 ? "met" : "MISSED")}");
        Console.WriteLine($"served (no batching) / in-process at {one} client(s): {unbatched1:F2}x");
        Console.WriteLine($"batched / unbatched server at {most} clients: {batching:F2}x (target >= 2) {(batching >= 2 ? "met" : "MISSED")}");
        Console.WriteLine($"failed requests: {results.Sum(r => r.Failed)} (target 0)");
        return ok && batched1 >= 0.85 && batching >= 2;
    }
}
