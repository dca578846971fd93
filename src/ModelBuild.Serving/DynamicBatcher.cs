using System.Diagnostics;
using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>
/// Dynamic batching. While requests come one at a time (the last execution served one), a request that finds the
/// model idle, nothing queued and no other request being received runs the session on its own thread at once, like
/// the unbatched server: no queue, no thread hop. Otherwise it queues, and a batch runner (one per instance, started
/// when work needs one) takes what is queued (up to the max batch, same per-row shapes), concatenates it along the
/// batch axis, runs the model once and hands each request its rows. A batch waits up to the max queue delay only
/// while other requests are still being received, so a lone client never pays the delay, while a busy server
/// batches whatever piled up while the model was running. Nothing polls: a waiting batch sleeps on a signal, and
/// only the last sub-millisecond of a queue delay, which timers cannot measure, is spent yielding.
/// One batch runner runs whenever something is queued; more start only when a full batch is waiting (and retire
/// when less is), direct runs not counting as runners, so a queue never waits on a direct run while an instance is
/// free: one runner forming big batches serves a model whose batched rows are cheap (an MLP streaming its weights once per batch),
/// while a model whose rows cost the same batched or not (a CNN) still gets every core once the queue outgrows
/// one batch. Taking batches greedily on every instance instead split 16 clients' requests into batches of ~2.8
/// rows on the MLP and cost 37 % of its throughput.
/// </summary>
public sealed class DynamicBatcher : IAsyncDisposable
{
    private readonly DeployedModel _model;
    private readonly ServerMetrics _metrics;
    private readonly int _maxQueueLength;
    private readonly long _maxDelayTicks;

    // Everything below is guarded by _lock (except _arriving, which is also changed with Interlocked).
    private readonly Lock _lock = new();
    private readonly Queue<Pending> _queue = new();
    private long _queuedRows;
    // Instances in use: direct runs plus batch runners; at most Workers.
    private int _running;
    // Of those, batch runners. The first runs whenever something is queued; more only while a full batch waits.
    private int _runners;
    // Requests the last execution served. After a batch, those clients are about to send again: the next request
    // goes through the queue, where they can join it, rather than run alone.
    private int _lastExecutionRequests = 1;
    private int _arriving;
    private bool _closed;
    // A runner holding a batch open for requests still being received sleeps on it; completed (and replaced) when
    // a request is queued, when no request is being received any more, or on shutdown.
    private TaskCompletionSource _queueChanged = NewSignal();
    private bool _batchIsWaiting;
    // Shutdown waits on it for runs still in progress.
    private TaskCompletionSource? _allRunsEnded;

    private sealed record Pending(IReadOnlyList<ModelTensor> Inputs, long Rows, long EnqueuedAt)
    {
        public readonly TaskCompletionSource<IReadOnlyList<ModelTensor>> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public DynamicBatcher(DeployedModel model, ServerMetrics metrics, int maxBatchSize, int maxQueueDelayMicroseconds,
        int workers, int maxQueueLength)
    {
        _model = model;
        _metrics = metrics;
        MaxBatchSize = maxBatchSize;
        MaxQueueDelayMicroseconds = maxQueueDelayMicroseconds;
        _maxDelayTicks = maxQueueDelayMicroseconds * Stopwatch.Frequency / 1_000_000;
        Workers = workers;
        _maxQueueLength = maxQueueLength;
    }

    public int MaxBatchSize { get; }
    public int MaxQueueDelayMicroseconds { get; }

    /// <summary>Executions that may run at once (the Triton instance count).</summary>
    public int Workers { get; }

    // Continuations run on the thread pool: whoever signals (often a request thread) must not end up running a batch.
    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Marks a request as being received, so a forming batch may wait for it. Pair with <see cref="Arrived"/>, or
    /// hand the mark to <see cref="InferAsync"/> (<c>callerWasArriving</c>), which clears it as it queues the request.
    /// </summary>
    public void Arriving() => Interlocked.Increment(ref _arriving);

    /// <summary>The request marked by <see cref="Arriving"/> will not reach <see cref="InferAsync"/> (it was refused).</summary>
    public void Arrived()
    {
        if (Interlocked.Decrement(ref _arriving) != 0) return;
        // A batch held open for arrivals has nothing left to wait for.
        lock (_lock) WakeWaitingBatch();
    }

    /// <summary>
    /// Runs validated inputs whose first axis is the batch axis, alone or in a batch; completes with this request's
    /// outputs. <paramref name="callerWasArriving"/>: the caller's <see cref="Arriving"/> mark is cleared here, in
    /// the same step that queues the request, so a forming batch never sees it as neither arriving nor queued.
    /// </summary>
    public Task<IReadOnlyList<ModelTensor>> InferAsync(IReadOnlyList<ModelTensor> inputs, bool callerWasArriving = false)
    {
        var rows = inputs[0].Shape[0];
        var received = Stopwatch.GetTimestamp();
        Pending? pending = null;
        var startRunner = false;
        lock (_lock)
        {
            if (callerWasArriving && Interlocked.Decrement(ref _arriving) == 0) WakeWaitingBatch();
            if (_closed)
                throw new RequestException(StatusCodes.Status503ServiceUnavailable, $"model '{_model.Name}' is shutting down");
            // Nothing to batch with now or soon: a hand-off would only add latency.
            var runDirectly = _queue.Count == 0 && _running < Workers && _lastExecutionRequests == 1
                && (Volatile.Read(ref _arriving) == 0 || _maxDelayTicks == 0);
            if (runDirectly)
                _running++;
            else
            {
                if (_queue.Count >= _maxQueueLength)
                    throw new RequestException(StatusCodes.Status503ServiceUnavailable,
                        $"model '{_model.Name}' has {_queue.Count} requests queued; try again later");
                pending = new Pending(inputs, rows, received);
                _queue.Enqueue(pending);
                _queuedRows += rows;
                WakeWaitingBatch();
                if (_running < Workers && (_runners == 0 || _queuedRows >= MaxBatchSize))
                {
                    _running++;
                    _runners++;
                    startRunner = true;
                }
            }
        }
        if (pending is null) return RunDirectly(inputs, rows, received);
        if (startRunner) StartRunner();
        return pending.Done.Task;
    }

    private Task<IReadOnlyList<ModelTensor>> RunDirectly(IReadOnlyList<ModelTensor> inputs, long rows, long received)
    {
        try
        {
            var started = Stopwatch.GetTimestamp();
            var outputs = _model.Run(inputs);
            _metrics.Execution(_model.Name, 1, rows, Stopwatch.GetElapsedTime(received, started).TotalSeconds,
                Stopwatch.GetElapsedTime(started).TotalSeconds);
            return Task.FromResult(outputs);
        }
        catch (Exception e)
        {
            return Task.FromException<IReadOnlyList<ModelTensor>>(e);
        }
        finally
        {
            bool handOver;
            lock (_lock)
            {
                _lastExecutionRequests = 1;
                // Requests that queued behind this run get the instance, through a runner, unless a runner already
                // has them and less than a full batch waits.
                handOver = _queue.Count > 0 && (_runners == 0 || _queuedRows >= MaxBatchSize);
                if (handOver) _runners++;
                else ReleaseInstance();
            }
            if (handOver) StartRunner();
        }
    }

    /// <summary>
    /// Starts a runner on an instance the caller has claimed. It goes to the back of the thread pool's global queue
    /// (not the signalling thread's local one): requests the server is already parsing get there first and join
    /// its batch.
    /// </summary>
    private void StartRunner() =>
        ThreadPool.UnsafeQueueUserWorkItem(static batcher => _ = batcher.RunBatchesAsync(), this, preferLocal: false);

    /// <summary>Runs batches while requests are queued, then gives its instance back.</summary>
    private async Task RunBatchesAsync()
    {
        var batch = new List<Pending>(MaxBatchSize);
        while (TryStartBatch(batch, out var rows))
        {
            rows = await FillBatchAsync(batch, rows).ConfigureAwait(false);
            Execute(batch, rows);
            lock (_lock) _lastExecutionRequests = batch.Count;
        }
    }

    /// <summary>
    /// Takes the first queued request with whatever queued behind it fits. Gives the instance back when nothing is
    /// queued, or when another runner is running and less than a full batch waits (that one will take it).
    /// </summary>
    private bool TryStartBatch(List<Pending> batch, out long rows)
    {
        batch.Clear();
        rows = 0;
        lock (_lock)
        {
            if (_queue.Count == 0 || (_runners > 1 && _queuedRows < MaxBatchSize))
            {
                _runners--;
                ReleaseInstance();
                return false;
            }
            var first = _queue.Dequeue();
            _queuedRows -= first.Rows;
            batch.Add(first);
            rows = first.Rows;
            TakeQueued(batch, ref rows);
            return true;
        }
    }

    /// <summary>Moves queued requests into the batch while they fit and share its per-row shapes; false when the next one cannot join.</summary>
    private bool TakeQueued(List<Pending> batch, ref long rows)
    {
        while (_queue.TryPeek(out var next))
        {
            if (rows + next.Rows > MaxBatchSize || !SameRowShapes(batch[0].Inputs, next.Inputs)) return false;
            batch.Add(_queue.Dequeue());
            _queuedRows -= next.Rows;
            rows += next.Rows;
        }
        return true;
    }

    /// <summary>Holds the batch open while requests are still being received, until it is full or the max queue delay has passed.</summary>
    private async ValueTask<long> FillBatchAsync(List<Pending> batch, long rows)
    {
        var deadline = batch[0].EnqueuedAt + _maxDelayTicks;
        while (rows < MaxBatchSize)
        {
            Task? queueChanged = null;
            long wholeMilliseconds;
            lock (_lock)
            {
                if (!TakeQueued(batch, ref rows)) break;
                var remaining = deadline - Stopwatch.GetTimestamp();
                if (rows >= MaxBatchSize || _closed || Volatile.Read(ref _arriving) == 0 || remaining <= 0) break;
                // Timers are millisecond-grained: sleep on the signal for whole milliseconds, yield through the rest.
                wholeMilliseconds = remaining * 1000 / Stopwatch.Frequency;
                if (wholeMilliseconds >= 1)
                {
                    _batchIsWaiting = true;
                    queueChanged = _queueChanged.Task;
                }
            }
            if (queueChanged is not null)
                await queueChanged.WaitAsync(TimeSpan.FromMilliseconds(wholeMilliseconds)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            else
                Thread.Yield();
        }
        return rows;
    }

    /// <summary>Caller holds the lock.</summary>
    private void WakeWaitingBatch()
    {
        if (!_batchIsWaiting) return;
        _batchIsWaiting = false;
        var signal = _queueChanged;
        _queueChanged = NewSignal();
        signal.TrySetResult();
    }

    /// <summary>Caller holds the lock.</summary>
    private void ReleaseInstance()
    {
        _running--;
        if (_running == 0) _allRunsEnded?.TrySetResult();
    }

    private static bool SameRowShapes(IReadOnlyList<ModelTensor> a, IReadOnlyList<ModelTensor> b)
    {
        if (a.Count != b.Count) return false;
        foreach (var x in a)
        {
            var matched = false;
            foreach (var y in b)
                if (y.Name == x.Name)
                {
                    matched = x.Shape.AsSpan(1).SequenceEqual(y.Shape.AsSpan(1));
                    break;
                }
            if (!matched) return false;
        }
        return true;
    }

    private void Execute(List<Pending> batch, long rows)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var results = batch.Count == 1 ? [_model.Run(batch[0].Inputs)] : Split(_model.Run(Concat(batch, rows)), batch, rows);
            _metrics.Execution(_model.Name, batch.Count, rows, Stopwatch.GetElapsedTime(batch[0].EnqueuedAt, started).TotalSeconds,
                Stopwatch.GetElapsedTime(started).TotalSeconds);
            for (var r = 0; r < batch.Count; r++) batch[r].Done.TrySetResult(results[r]);
        }
        catch (Exception) when (batch.Count > 1)
        {
            // One bad request must not fail its neighbours: run each alone so only the culprit gets the error.
            foreach (var p in batch) Execute([p], p.Rows);
        }
        catch (Exception e)
        {
            batch[0].Done.TrySetException(e);
        }
    }

    private static IReadOnlyList<ModelTensor> Concat(List<Pending> batch, long rows)
    {
        var first = batch[0].Inputs;
        var result = new ModelTensor[first.Count];
        for (var i = 0; i < first.Count; i++)
        {
            var name = first[i].Name;
            var shape = first[i].Shape.ToArray();
            shape[0] = rows;
            var data = TensorTypes.NewArray(first[i].Type, checked((int)(first[i].Data.Length / Math.Max(first[i].Shape[0], 1) * rows)));
            var offset = 0;
            foreach (var p in batch)
            {
                var part = p.Inputs.First(t => t.Name == name).Data;
                Array.Copy(part, 0, data, offset, part.Length);
                offset += part.Length;
            }
            result[i] = new ModelTensor(name, data, shape);
        }
        return result;
    }

    /// <summary>Each request's rows of every output.</summary>
    private static IReadOnlyList<ModelTensor>[] Split(IReadOnlyList<ModelTensor> outputs, List<Pending> batch, long rows)
    {
        var perRequest = batch.Select(_ => new ModelTensor[outputs.Count]).ToArray();
        for (var o = 0; o < outputs.Count; o++)
        {
            var output = outputs[o];
            if (output.Shape.Length == 0 || output.Shape[0] != rows)
                throw new InvalidOperationException($"output '{output.Name}' has shape [{string.Join(",", output.Shape)}], not " +
                    $"{rows} batch rows; it cannot be split.");
            var rowElements = rows == 0 ? 0 : output.Data.Length / rows;
            long offset = 0;
            for (var r = 0; r < batch.Count; r++)
            {
                var shape = output.Shape.ToArray();
                shape[0] = batch[r].Rows;
                var data = TensorTypes.NewArray(output.Type, checked((int)(rowElements * batch[r].Rows)));
                Array.Copy(output.Data, offset, data, 0, data.Length);
                offset += data.Length;
                perRequest[r][o] = new ModelTensor(output.Name, data, shape);
            }
        }
        return perRequest;
    }

    /// <summary>Stops taking requests and waits until what is queued and running has run.</summary>
    public async ValueTask DisposeAsync()
    {
        Task runsEnded;
        lock (_lock)
        {
            _closed = true;
            WakeWaitingBatch();
            // Queued requests always have a runner (or a direct run that hands over to one), so this drains them.
            runsEnded = _running == 0 ? Task.CompletedTask : (_allRunsEnded ??= NewSignal()).Task;
        }
        await runsEnded.ConfigureAwait(false);
    }
}
