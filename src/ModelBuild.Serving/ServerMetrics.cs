using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace ModelBuild.Serving;

/// <summary>
/// Counters and histograms exposed at /metrics in the Prometheus text format (0.0.4). Names follow Prometheus
/// conventions; the nv_* counters mirror Triton's so existing dashboards keep working.
/// </summary>
public sealed class ServerMetrics
{
    private static readonly double[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128];
    private static readonly double[] SecondsBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    private readonly ConcurrentDictionary<(string Endpoint, string Model, int Code), long> _requests = new();
    private readonly ConcurrentDictionary<string, ModelCounters> _models = new(StringComparer.Ordinal);
    private long _inFlight;

    private sealed class ModelCounters
    {
        public long Inferences;
        public long Executions;
        public long Success;
        public long Failure;
        public readonly Histogram BatchSize = new(BatchBuckets);
        public readonly Histogram RequestSeconds = new(SecondsBuckets);
        public readonly Histogram QueueSeconds = new(SecondsBuckets);
        public readonly Histogram ComputeSeconds = new(SecondsBuckets);
    }

    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length + 1];
        private double _sum;
        private readonly Lock _lock = new();

        public void Observe(double value)
        {
            lock (_lock)
            {
                var i = 0;
                while (i < bounds.Length && value > bounds[i]) i++;
                _counts[i]++;
                _sum += value;
            }
        }

        public void Write(StringBuilder w, string name, string labels)
        {
            lock (_lock)
            {
                long cumulative = 0;
                for (var i = 0; i < bounds.Length; i++)
                {
                    cumulative += _counts[i];
                    w.Append(name).Append("_bucket{").Append(labels).Append(",le=\"").Append(Num(bounds[i])).Append("\"} ")
                        .Append(cumulative).Append('\n');
                }
                cumulative += _counts[^1];
                w.Append(name).Append("_bucket{").Append(labels).Append(",le=\"+Inf\"} ").Append(cumulative).Append('\n');
                w.Append(name).Append("_sum{").Append(labels).Append("} ").Append(Num(_sum)).Append('\n');
                w.Append(name).Append("_count{").Append(labels).Append("} ").Append(cumulative).Append('\n');
            }
        }

        public double Sum()
        {
            lock (_lock) return _sum;
        }

        public double Mean()
        {
            lock (_lock)
            {
                var n = _counts.Sum();
                return n == 0 ? 0 : _sum / n;
            }
        }
    }

    private ModelCounters For(string model) => _models.GetOrAdd(model, _ => new ModelCounters());

    public void Request(string endpoint, string model, int statusCode) =>
        _requests.AddOrUpdate((endpoint, model, statusCode), 1, (_, n) => n + 1);

    public void RequestStarted() => Interlocked.Increment(ref _inFlight);
    public void RequestEnded() => Interlocked.Decrement(ref _inFlight);

    /// <summary>One inference request answered (or failed), with its end-to-end time in the server.</summary>
    public void Inference(string model, bool success, double seconds)
    {
        var c = For(model);
        Interlocked.Increment(ref success ? ref c.Success : ref c.Failure);
        if (success) c.RequestSeconds.Observe(seconds);
    }

    /// <summary>One model execution over <paramref name="rows"/> batch rows from <paramref name="requests"/> requests.</summary>
    public void Execution(string model, int requests, long rows, double queueSeconds, double computeSeconds)
    {
        var c = For(model);
        Interlocked.Increment(ref c.Executions);
        Interlocked.Add(ref c.Inferences, rows);
        c.BatchSize.Observe(requests);
        c.QueueSeconds.Observe(queueSeconds);
        c.ComputeSeconds.Observe(computeSeconds);
    }

    /// <summary>Model executions so far.</summary>
    public long Executions(string model) => Interlocked.Read(ref For(model).Executions);

    /// <summary>Batch rows inferred so far.</summary>
    public long Inferences(string model) => Interlocked.Read(ref For(model).Inferences);

    /// <summary>Seconds spent in model executions so far (the session runs, not the HTTP around them).</summary>
    public double ComputeSeconds(string model) => For(model).ComputeSeconds.Sum();

    /// <summary>Seconds successful inference requests spent in the server so far, from the handler's start to its answer.</summary>
    public double RequestSeconds(string model) => For(model).RequestSeconds.Sum();

    /// <summary>Mean requests per execution so far (tests and the load test read it).</summary>
    public double MeanBatchSize(string model) => For(model).BatchSize.Mean();

    /// <summary>The Prometheus text exposition.</summary>
    public string Render()
    {
        var w = new StringBuilder();
        w.Append("# HELP modelbuild_http_requests_total HTTP requests by endpoint, model and status code.\n");
        w.Append("# TYPE modelbuild_http_requests_total counter\n");
        foreach (var ((endpoint, model, code), n) in _requests.OrderBy(kv => kv.Key.Endpoint).ThenBy(kv => kv.Key.Model).ThenBy(kv => kv.Key.Code))
            w.Append("modelbuild_http_requests_total{endpoint=\"").Append(Escape(endpoint)).Append("\",model=\"").Append(Escape(model))
                .Append("\",code=\"").Append(code).Append("\"} ").Append(n).Append('\n');
        w.Append("# HELP modelbuild_http_requests_in_flight HTTP requests being served.\n");
        w.Append("# TYPE modelbuild_http_requests_in_flight gauge\n");
        w.Append("modelbuild_http_requests_in_flight ").Append(Interlocked.Read(ref _inFlight)).Append('\n');

        var models = _models.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        Counter(w, models, "nv_inference_request_success", "Successful inference requests (Triton-compatible).", c => c.Success);
        Counter(w, models, "nv_inference_request_failure", "Failed inference requests (Triton-compatible).", c => c.Failure);
        Counter(w, models, "nv_inference_count", "Inferences performed, counting every batch row (Triton-compatible).", c => c.Inferences);
        Counter(w, models, "nv_inference_exec_count", "Model executions; inferences / executions = mean batch (Triton-compatible).",
            c => c.Executions);
        Hist(w, models, "modelbuild_batch_size", "Requests per model execution (dynamic batching).", c => c.BatchSize);
        Hist(w, models, "modelbuild_request_duration_seconds", "Inference request time in the server, parse to response.", c => c.RequestSeconds);
        Hist(w, models, "modelbuild_queue_duration_seconds", "Time a batch's first request waited in the queue.", c => c.QueueSeconds);
        Hist(w, models, "modelbuild_compute_duration_seconds", "Model execution time per batch.", c => c.ComputeSeconds);
        return w.ToString();
    }

    private static void Counter(StringBuilder w, List<KeyValuePair<string, ModelCounters>> models, string name, string help,
        Func<ModelCounters, long> value)
    {
        w.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        w.Append("# TYPE ").Append(name).Append(" counter\n");
        foreach (var (model, c) in models)
            w.Append(name).Append("{model=\"").Append(Escape(model)).Append("\",version=\"1\"} ").Append(value(c)).Append('\n');
    }

    private static void Hist(StringBuilder w, List<KeyValuePair<string, ModelCounters>> models, string name, string help,
        Func<ModelCounters, Histogram> h)
    {
        w.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        w.Append("# TYPE ").Append(name).Append(" histogram\n");
        foreach (var (model, c) in models)
            h(c).Write(w, name, $"model=\"{Escape(model)}\"");
    }

    private static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
