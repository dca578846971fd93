using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using ModelBuild.Diagnostics;
using ModelBuild.Runtime;
using ModelBuild.Serving;
using ModelBuild.Data;

namespace ModelBuild.Tool.Commands;

/// <summary>
/// <c>modelbuild bench-serve DIR</c>: a bounded load test on loopback. The same batch-1 request, sent by 1 and by 16
/// concurrent clients, to ONNX Runtime in process, to the server without batching and to the server with dynamic
/// batching; throughput, p50/p99 and the ratios the serving targets are stated in.
/// </summary>
internal static class BenchServeCommand
{
    /// <summary>What the server saw during a measurement: mean batch, and per request its handler time and its share of model compute.</summary>
    private sealed record ServerSide(double MeanBatch, double HandlerMs, double ComputeMs);

    private sealed record Result(string Target, int Clients, int Round, int Requests, int Failed, double Seconds, PercentileSummary LatencyMs,
        double MeanLatencyMs, ServerSide? Server, double CpuMicroseconds)
    {
        public double Throughput => Requests / Seconds;

        /// <summary>Model compute per request: the server's share of its executions, or in process the whole call.</summary>
        public double ComputeMs => Server?.ComputeMs ?? MeanLatencyMs;
    }

    private const string InProcess = "in-process ORT";
    private const string Unbatched = "served, unbatched";
    private const string Batched = "served, dynamic batching";

    public static Command Create()
    {
        var dir = new Argument<string>("path") { Description = "A ModelBuild output folder, or an .onnx file (served from a " +
            "temporary folder)." }.RefusingOptions();
        var model = new Option<string?>("--model") { Description = "The model to load-test (default: the first deployed model)." };
        var requests = new Option<int>("--requests") { Description = "Requests per measurement (after warm-up).", DefaultValueFactory = _ => 2000 };
        var seconds = new Option<double>("--max-seconds") { Description = "Time limit per measurement; it stops early at this bound.",
            DefaultValueFactory = _ => 10 };
        var clients = new Option<int[]>("--clients") { Description = "Concurrent client counts.", DefaultValueFactory = _ => [1, 16],
            AllowMultipleArgumentsPerToken = true };
        var repeat = new Option<int>("--repeat") { Description = "Rounds; each measures every target once, so a ratio compares measurements taken " +
            "close together. Medians and ranges are printed.", DefaultValueFactory = _ => 3 };
        var binary = new Option<bool>("--binary") { Description = "Send inputs and receive outputs with the binary tensor data " +
            "extension instead of JSON numbers." };
        var enforce = new Option<bool>("--enforce") { Description = "Exit 1 when a target is missed (served ≥ 0.85× in-process at 1 client; " +
            "batched ≥ 2× unbatched at the most clients)." };
        var shared = new ServeOptionsArguments();
        var command = new Command("bench-serve", "Load-test `modelbuild serve` on loopback against ONNX Runtime in process.")
        {
            dir, model, requests, seconds, clients, repeat, binary, enforce,
        };
        shared.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(() =>
        {
            var count = parse.GetValue(requests);
            var limit = TimeSpan.FromSeconds(parse.GetValue(seconds));
            var rounds = parse.GetValue(repeat);
            var clientCounts = parse.GetValue(clients)!.Distinct().Order().ToArray();
            if (count < 1 || rounds is < 1 or > 20 || limit <= TimeSpan.Zero || clientCounts.Length == 0 || clientCounts.Any(c => c is < 1 or > 256))
                throw new ModelBuildException(DiagnosticCodes.InvalidValue, "--requests and --max-seconds must be positive, --repeat between 1 and " +
                    "20 and --clients between 1 and 256");
            var path = Path.GetFullPath(parse.GetValue(dir)!);
            string? temporary = null;
            if (File.Exists(path) && path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                // A bare model: give it the folder layout the server reads (models/<name>/model.onnx), without copying.
                temporary = Path.Combine(Path.GetTempPath(), "mb-bench-" + Guid.NewGuid().ToString("N"));
                var target = Path.Combine(temporary, "models", Path.GetFileNameWithoutExtension(path), "model.onnx");
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                try { File.CreateSymbolicLink(target, path); }
                catch (IOException) { File.Copy(path, target); }
                catch (UnauthorizedAccessException) { File.Copy(path, target); }
            }
            else if (!Directory.Exists(path))
                throw new ModelBuildException(DiagnosticCodes.FileNotFound, $"'{path}' is neither a folder nor an .onnx file");
            try
            {
                var options = shared.Apply(parse, new ServerOptions { Directory = temporary ?? path, Port = 0 });
                return RunAsync(options, parse.GetValue(model), count, limit, clientCounts, rounds, parse.GetValue(binary), parse.GetValue(enforce))
                    .GetAwaiter().GetResult();
            }
            finally
            {
                if (temporary is not null) Directory.Delete(temporary, recursive: true);
            }
        }));
        return command;
    }

    private static async Task<ExitCode> RunAsync(ServerOptions options, string? modelName, int count, TimeSpan limit, int[] clientCounts,
        int rounds, bool binary, bool enforce)
    {
        var entries = DeployedModels.List(options.Directory);
        var entry = (modelName is null ? entries.FirstOrDefault() : entries.FirstOrDefault(e => e.Name == modelName))
            ?? throw new ModelBuildException(DiagnosticCodes.FileNotFound,
                $"'{options.Directory}' has no deployed model{(modelName is null ? "" : $" '{modelName}'")}");
        options = options with { Models = [entry.Name] };
        var results = new List<Result>();

        using var local = DeployedModel.Open(entry.Path, entry.Name, entry.Variant,
            new DeployedModelOptions { IntraOpThreads = options.IntraOpThreads });
        var inputs = SampleInputs(local);
        var reference = local.Run(inputs)[0].Data as float[];
        var request = binary ? BinaryRequest(inputs, local.Outputs[0].Name) : (Json: RequestBody(inputs), HeaderLength: -1);
        Console.WriteLine($"model {entry.Name} ({entry.Variant ?? "model.onnx"}), batch-1 requests, " +
            $"{(binary ? "binary tensors" : "JSON tensors")} of {request.Json.Length} bytes, " +
            $"{count} per measurement (≤ {limit.TotalSeconds:0.#} s), {rounds} round(s), " +
            $"ORT intra-op threads {options.IntraOpThreads}, {Environment.ProcessorCount} cores");

        await using var unbatched = await ModelServer.StartAsync(options with { MaxBatchSize = 1 });
        await using var batched = await ModelServer.StartAsync(options);
        var servers = new[] { (Unbatched, unbatched), (Batched, batched) };
        // HttpClient checks the first answer of each server (values against in-process ORT); the load itself comes
        // from LoopbackConnection, which keeps the client's own cost off the measured path.
        using (var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }))
            foreach (var (_, s) in servers) await CheckFirstResponse(http, new Uri(s.Address, $"v2/models/{entry.Name}/infer"), request, reference);
        var headers = request.HeaderLength < 0 ? new Dictionary<string, string>()
            : new Dictionary<string, string>
            {
                [KServeTypes.InferenceHeaderLength] = request.HeaderLength.ToString(System.Globalization.CultureInfo.InvariantCulture)
            };
        var contentType = request.HeaderLength < 0 ? "application/json" : "application/octet-stream";

        for (var round = 0; round < rounds; round++)
            foreach (var c in clientCounts)
            {
                results.Add(Measure(InProcess, c, round, count, limit, () => (() => { local.Run(inputs); return true; }, null), null));
                foreach (var (target, s) in servers)
                {
                    var url = new Uri(s.Address, $"v2/models/{entry.Name}/infer");
                    results.Add(Measure(target, c, round, count, limit, () =>
                    {
                        var connection = new LoopbackConnection(url, contentType, headers, request.Json);
                        return (() => connection.Send() == (int)HttpStatusCode.OK, connection);
                    }, new ServerWatch(s, entry.Name)));
                }
            }

        Print(results);
        var met = Judge(results, clientCounts, rounds);
        return results.Any(r => r.Failed > 0) || (enforce && !met) ? ExitCode.CheckFailed : ExitCode.Success;
    }

    /// <summary>
    /// Each client is a thread with its own call (its own connection), making blocking calls back to back: the
    /// thread pool stays the server's. Warm-up first (sessions, connections, JIT; bounded in time for slow models),
    /// then all clients start together and share the request count.
    /// </summary>
    private static Result Measure(string target, int clients, int round, int count, TimeSpan limit,
        Func<(Func<bool> Call, IDisposable? Owner)> newClient, ServerWatch? server)
    {
        var latencies = new double[count];
        var next = -1;
        var failed = 0;
        long deadline = 0;
        var warmupEnd = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds / 4 * Stopwatch.Frequency);
        using var warmedUp = new CountdownEvent(clients);
        using var go = new ManualResetEventSlim();
        // An exception escaping a raw thread would kill the process: the first one is kept and rethrown here.
        Exception? crashed = null;
        var threads = Enumerable.Range(0, clients).Select(_ => new Thread(() =>
        {
            var signalled = false;
            try
            {
                var (call, owner) = newClient();
                using var _ = owner;
                bool Call()
                {
                    try { return call(); }
                    catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException) { return false; }
                }
                for (var i = 0; i < 20 && (i < 2 || Stopwatch.GetTimestamp() < warmupEnd); i++) Call();
                signalled = true;
                warmedUp.Signal();
                go.Wait();
                int n;
                while ((n = Interlocked.Increment(ref next)) < count && Stopwatch.GetTimestamp() < deadline)
                {
                    var t = Stopwatch.GetTimestamp();
                    var ok = Call();
                    latencies[n] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                    if (!ok) Interlocked.Increment(ref failed);
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref crashed, e, null);
                if (!signalled) warmedUp.Signal();
            }
        }) { IsBackground = true, Name = "bench-serve client" }).ToList();
        threads.ForEach(t => t.Start());
        warmedUp.Wait();
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        server?.Start();
        var started = Stopwatch.GetTimestamp();
        // Written before the clients are released (Set is a full fence), read by them only after.
        deadline = started + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        go.Set();
        threads.ForEach(t => t.Join());
        if (crashed is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(crashed);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var serverSide = server?.Stop();
        process.Refresh();
        var done = Math.Min(count, next);
        // CPU of this process (client and server together) per request: steadier than req/s on a shared machine.
        var cpu = (process.TotalProcessorTime - cpuBefore).TotalMicroseconds / Math.Max(done, 1);
        return new Result(target, clients, round, done, failed, elapsed, Percentiles.Summarize(latencies[..Math.Max(done, 1)]),
            latencies[..Math.Max(done, 1)].Average(), serverSide, cpu);
    }

    /// <summary>Reads the server's metrics for one model over a measurement (warm-up excluded).</summary>
    private sealed class ServerWatch(ModelServer server, string model)
    {
        private (double Executions, double Rows, double HandlerSeconds, double ComputeSeconds) _start;

        private (double, double, double, double) Read() => (server.Metrics.Executions(model), server.Metrics.Inferences(model),
            server.Metrics.RequestSeconds(model), server.Metrics.ComputeSeconds(model));

        public void Start() => _start = Read();

        public ServerSide Stop()
        {
            var (executions, rows, handler, compute) = Read();
            executions -= _start.Executions;
            rows -= _start.Rows;
            // Batch-1 requests: a row is a request.
            return rows == 0 ? new ServerSide(0, 0, 0) : new ServerSide(rows / executions,
                (handler - _start.HandlerSeconds) * 1000 / rows, (compute - _start.ComputeSeconds) * 1000 / rows);
        }
    }

    private static async Task CheckFirstResponse(HttpClient http, Uri url, (byte[] Json, int HeaderLength) request, float[]? reference)
    {
        using var content = new ByteArrayContent(request.Json);
        content.Headers.ContentType = new(request.HeaderLength < 0 ? "application/json" : "application/octet-stream");
        using var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
        if (request.HeaderLength >= 0)
            message.Headers.TryAddWithoutValidation(KServeTypes.InferenceHeaderLength,
                request.HeaderLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await http.SendAsync(message);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        if (response.StatusCode != HttpStatusCode.OK)
            throw new ModelBuildException(DiagnosticCodes.Internal, $"the server answered {(int)response.StatusCode}: " +
                $"{Encoding.UTF8.GetString(bytes)}");
        if (reference is null) return;
        var jsonLength = response.Headers.TryGetValues(KServeTypes.InferenceHeaderLength, out var values)
            ? int.Parse(values.First(), System.Globalization.CultureInfo.InvariantCulture) : bytes.Length;
        using var json = JsonDocument.Parse(bytes.AsMemory(0, jsonLength));
        var output = json.RootElement.GetProperty("outputs")[0];
        var data = output.TryGetProperty("data", out var d)
            ? d.EnumerateArray().Select(e => e.GetSingle()).ToArray()
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan(jsonLength, output.GetProperty("parameters")
                .GetProperty("binary_data_size").GetInt32())).ToArray();
        var maxAbs = data.Zip(reference, (a, b) => Math.Abs(a - b) / (1 + Math.Abs(b))).DefaultIfEmpty(0).Max();
        if (data.Length != reference.Length || maxAbs > 1e-5)
            throw new ModelBuildException(DiagnosticCodes.Internal, $"served outputs differ from in-process ONNX Runtime (max " +
                $"relative difference {maxAbs})");
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

    /// <summary>Opens one input's object with what both request forms share: name, datatype and shape.</summary>
    private static void WriteTensorHeader(Utf8JsonWriter w, ModelTensor t)
    {
        w.WriteStartObject();
        w.WriteString("name", t.Name);
        w.WriteString("datatype", KServeTypes.Name(t.Type));
        w.WriteStartArray("shape");
        foreach (var d in t.Shape) w.WriteNumberValue(d);
        w.WriteEndArray();
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
                WriteTensorHeader(w, t);
                w.WritePropertyName("data");
                JsonSerializer.Serialize(w, t.Data, t.Data.GetType());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The binary tensor extension: a JSON header, then each input's little-endian bytes; the first output comes back binary.</summary>
    private static (byte[] Json, int HeaderLength) BinaryRequest(IReadOnlyList<ModelTensor> inputs, string output)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("inputs");
            foreach (var t in inputs)
            {
                WriteTensorHeader(w, t);
                w.WriteStartObject("parameters");
                w.WriteNumber("binary_data_size", t.Data.Length * TensorTypes.ElementSize(t.Type));
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("outputs");
            w.WriteStartObject();
            w.WriteString("name", output);
            w.WriteStartObject("parameters");
            w.WriteBoolean("binary_data", true);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }
        var headerLength = buffer.WrittenCount;
        foreach (var t in inputs) InferResponseWriter.WriteBytes(buffer, t);
        return (buffer.WrittenSpan.ToArray(), headerLength);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length == 0 ? double.NaN : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private static void Print(List<Result> results)
    {
        var o = new StringBuilder();
        o.AppendLine();
        o.AppendLine("medians over rounds; req/s range in brackets; cpu = this process's CPU (client + server) per request;");
        o.AppendLine("server = mean time in the server's handler per request, ort = mean model compute per request (in process: the whole call)");
        o.AppendLine($"{"target",-26} {"clients",7} {"requests",8} {"failed",6} {"req/s",9} {"range",15} {"p50 ms",8} {"p99 ms",8} {"cpu µs",7} " +
            $"{"server",7} {"ort ms",7} {"batch",6}");
        foreach (var g in results.GroupBy(r => (r.Target, r.Clients)).OrderBy(g => g.Key.Clients))
        {
            var tp = g.Select(r => r.Throughput).ToList();
            o.AppendLine($"{g.Key.Target,-26} {g.Key.Clients,7} {g.Sum(r => r.Requests),8} {g.Sum(r => r.Failed),6} {Median(tp),9:F0} " +
                $"{$"[{tp.Min():F0}–{tp.Max():F0}]",15} " +
                $"{Median(g.Select(r => r.LatencyMs.P50)),8:F3} {Median(g.Select(r => r.LatencyMs.P99)),8:F3} " +
                $"{Median(g.Select(r => r.CpuMicroseconds)),7:F0} " +
                $"{(g.First().Server is null ? "-"
                    : Median(g.Select(r => r.Server!.HandlerMs)).ToString("F3", System.Globalization.CultureInfo.InvariantCulture)),7} " +
                $"{Median(g.Select(r => r.ComputeMs)),7:F3} {Median(g.Select(r => r.Server?.MeanBatch ?? 1)),6:F2}");
        }
        Console.Write(o.ToString());
    }

    /// <summary>Prints the ratios the targets are stated in (per round, then median and range); true when every target is met.</summary>
    private static bool Judge(List<Result> results, int[] clientCounts, int rounds)
    {
        (double Median, double Min, double Max) Ratio(string a, string b, int clients)
        {
            var r = Enumerable.Range(0, rounds).Select(round =>
                results.First(x => x.Target == a && x.Clients == clients && x.Round == round).Throughput /
                results.First(x => x.Target == b && x.Clients == clients && x.Round == round).Throughput).ToList();
            return (Median(r), r.Min(), r.Max());
        }
        string Show((double Median, double Min, double Max) r) => $"{r.Median:F2}x [{r.Min:F2}–{r.Max:F2}]";
        var ok = results.All(r => r.Failed == 0);
        var one = clientCounts.Contains(1) ? 1 : clientCounts[0];
        var most = clientCounts[^1];
        var batched1 = Ratio(Batched, InProcess, one);
        var unbatched1 = Ratio(Unbatched, InProcess, one);
        var batching = Ratio(Batched, Unbatched, most);
        Console.WriteLine();
        Console.WriteLine($"served (batching) / in-process at {one} client(s): {Show(batched1)} (target >= 0.85) " +
            $"{(batched1.Median >= 0.85 ? "met" : "MISSED")}");
        Console.WriteLine($"served (no batching) / in-process at {one} client(s): {Show(unbatched1)}");
        // The batching target is about concurrency; at a single client there is nothing to batch.
        Console.WriteLine(most > 1
            ? $"batched / unbatched server at {most} clients: {Show(batching)} (target >= 2 at 16 clients) " +
                $"{(batching.Median >= 2 ? "met" : "MISSED")}"
            : $"batched / unbatched server at 1 client: {Show(batching)} (nothing to batch; the batching target is judged at 16 clients)");
        Console.WriteLine($"failed requests: {results.Sum(r => r.Failed)} (target 0)");
        return ok && batched1.Median >= 0.85 && batching.Median >= 2;
    }
}
