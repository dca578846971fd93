namespace ModelBuild.Serving;

/// <summary>Settings of <c>modelbuild serve</c>; null batching fields fall back to each model's Triton config.</summary>
public sealed record ServerOptions
{
    /// <summary>The ModelBuild output folder (modelbuild-report.json, models/, deploy/triton/).</summary>
    public required string Directory { get; init; }

    /// <summary>Loopback by default: exposing a server is a decision, not a default.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>8000 like Triton's HTTP port; 0 picks a free port (tests, benchmarks).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>Largest batch the dynamic batcher forms; null = the model's max_batch_size (8 when it has none); 1 turns batching off.</summary>
    public int? MaxBatchSize { get; init; }

    /// <summary>How long a batch may wait for requests being received; null = the model's max_queue_delay_microseconds (100 µs when none).</summary>
    public int? MaxQueueDelayMicroseconds { get; init; }

    /// <summary>
    /// Model runs at once per model; null = the model's instance_group count, else one per core divided by
    /// <see cref="IntraOpThreads"/>. With dynamic batching, instances past the first take batches only while a full
    /// batch is waiting.
    /// </summary>
    public int? Instances { get; init; }

    /// <summary>Requests a model may hold queued before new ones are answered 503.</summary>
    public int MaxQueueLength { get; init; } = 1024;

    /// <summary>ONNX Runtime intra-op threads per session; 1 suits many concurrent requests.</summary>
    public int IntraOpThreads { get; init; } = 1;

    /// <summary>Largest request body; bigger ones get 413 before they are read.</summary>
    public long MaxRequestBodyBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>
    /// On shutdown, how long the server keeps answering, with readiness false, before it stops listening: the time a
    /// load balancer needs to see "not ready" and stop sending. Zero by default (a developer's Ctrl+C).
    /// </summary>
    public TimeSpan ShutdownDelay { get; init; }

    /// <summary>Time in-flight requests get to finish on shutdown (after <see cref="ShutdownDelay"/>).</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>/predict: class names, index order; missing ones are shown as "class N".</summary>
    public IReadOnlyList<string> Labels { get; init; } = Array.Empty<string>();

    /// <summary>Log warnings and errors to the console (the command); tests keep quiet.</summary>
    public bool ConsoleLogging { get; init; }

    /// <summary>Only models with these names are served; empty = all.</summary>
    public IReadOnlyList<string> Models { get; init; } = Array.Empty<string>();
}
