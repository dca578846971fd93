using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>A model the server answers for: its session, and its batcher when it can batch.</summary>
public sealed class ServedModel : IAsyncDisposable
{
    /// <param name="preprocessing">The model's image preprocessing as the build recorded it, for /predict.</param>
    public ServedModel(DeployedModel model, ServerOptions options, ServerMetrics metrics, ImagePreprocessing? preprocessing = null)
    {
        Model = model;
        Preprocessing = preprocessing ?? new ImagePreprocessing();
        var config = TritonConfigReader.Read(options.Directory, model.Name);
        var batchable = model.Inputs.Concat(model.Outputs).All(t => t.HasDynamicBatch);
        // Like Triton: max_batch_size 0 means the model has no batch axis the server may use.
        MaxBatchSize = batchable ? Math.Max(options.MaxBatchSize ?? config.MaxBatchSize ?? 8, 0) : 0;
        // Runs at once: with or without batching, enough to keep every core busy and no more. More only queue inside
        // ONNX Runtime while holding thread-pool threads, which starves Kestrel's I/O on a small machine.
        var instances = Math.Max(options.Instances ?? config.Instances ?? DefaultInstances(options.IntraOpThreads), 1);
        if (MaxBatchSize > 1)
            Batcher = new DynamicBatcher(model, metrics, MaxBatchSize,
                Math.Max(options.MaxQueueDelayMicroseconds ?? config.MaxQueueDelayMicroseconds ?? 100, 0),
                instances, Math.Max(options.MaxQueueLength, 1));
        else
        {
            _gate = new SemaphoreSlim(instances);
            _instances = instances;
            _maxWaiting = Math.Max(options.MaxQueueLength, 1);
        }
        _metrics = metrics;
    }

    private readonly ServerMetrics _metrics;
    // Without batching: the instances, how many requests may wait for one, and how many do.
    private readonly SemaphoreSlim? _gate;
    private readonly int _instances;
    private readonly int _maxWaiting;
    private int _waiting;
    private volatile bool _closed;

    /// <summary>One run per core when each run takes one thread; one when ONNX Runtime spreads a run over all cores (0).</summary>
    public static int DefaultInstances(int intraOpThreads) =>
        intraOpThreads <= 0 ? 1 : Math.Max(1, Environment.ProcessorCount / intraOpThreads);

    public DeployedModel Model { get; }
    public string Name => Model.Name;

    /// <summary>
    /// What /predict applies to an image: the build's recorded definition, else the defaults (scale 255, resize to the model's size).
    /// </summary>
    public ImagePreprocessing Preprocessing { get; }

    /// <summary>The largest batch a request may carry; 0 when the model has no dynamic batch axis.</summary>
    public int MaxBatchSize { get; }

    /// <summary>Null when batching is off (max batch 1 or no batch axis): requests run on their own threads.</summary>
    public DynamicBatcher? Batcher { get; }

    /// <summary>
    /// Validates, then runs through the batcher or directly. <paramref name="markedArriving"/>: the caller called
    /// <see cref="DynamicBatcher.Arriving"/> for this request; the mark is cleared here whatever happens.
    /// </summary>
    /// <param name="cancellationToken">The client went away: stop waiting for an instance (runs are not interrupted).</param>
    public async Task<IReadOnlyList<ModelTensor>> InferAsync(IReadOnlyList<ModelTensor> inputs, bool markedArriving = false,
        CancellationToken cancellationToken = default)
    {
        try
        {
            CheckInputs(inputs);
        }
        catch when (markedArriving)
        {
            Batcher?.Arrived();
            throw;
        }
        try
        {
            if (Batcher is not null) return await Batcher.InferAsync(inputs, markedArriving).ConfigureAwait(false);
            var queued = System.Diagnostics.Stopwatch.GetTimestamp();
            if (_closed) throw new RequestException(StatusCodes.Status503ServiceUnavailable, $"model '{Name}' is shutting down");
            // The batcher's queue limit, for the unbatched path: past it, 503 rather than an unbounded wait.
            if (Interlocked.Increment(ref _waiting) > _maxWaiting)
            {
                Interlocked.Decrement(ref _waiting);
                throw new RequestException(StatusCodes.Status503ServiceUnavailable, $"model '{Name}' has " +
                    $"{_maxWaiting} requests waiting; try again later");
            }
            try
            {
                await _gate!.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var outputs = Model.Run(inputs);
                _metrics.Execution(Name, 1, inputs[0].Shape.Length > 0 ? inputs[0].Shape[0] : 1,
                    System.Diagnostics.Stopwatch.GetElapsedTime(queued, started).TotalSeconds,
                    System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
                return outputs;
            }
            finally
            {
                _gate.Release();
            }
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
        {
            // Inputs passed validation, so what ONNX Runtime refuses is about their values (an index out of range...).
            throw RequestException.BadRequest($"model '{Name}' failed on these inputs: {e.Message.Split('\n')[0]}");
        }
    }

    private void CheckInputs(IReadOnlyList<ModelTensor> inputs)
    {
        try
        {
            Model.Validate(inputs);
        }
        catch (ModelInputException e)
        {
            throw RequestException.BadRequest(e.Message);
        }
        if (MaxBatchSize > 0)
        {
            var rows = inputs[0].Shape[0];
            if (inputs.Any(t => t.Shape[0] != rows))
                throw RequestException.BadRequest($"inputs disagree on the batch size (first axis): " +
                    $"{string.Join(", ", inputs.Select(t => $"{t.Name}={t.Shape[0]}"))}");
            if (rows > MaxBatchSize)
                throw RequestException.BadRequest($"batch size {rows} exceeds model '{Name}' max_batch_size {MaxBatchSize}");
            if (rows == 0)
                throw RequestException.BadRequest("batch size must be at least 1");
        }
    }

    /// <summary>Refuses new requests, lets those already waiting or running finish, then closes the session.</summary>
    public async ValueTask DisposeAsync()
    {
        _closed = true;
        if (Batcher is not null) await Batcher.DisposeAsync().ConfigureAwait(false);
        if (_gate is not null)
            // Holding every instance means no run is left in the session (requests already waiting go first).
            for (var i = 0; i < _instances; i++) await _gate.WaitAsync().ConfigureAwait(false);
        // The gate is not disposed: a request cancelled while waiting on it must still find it usable.
        Model.Dispose();
    }
}
