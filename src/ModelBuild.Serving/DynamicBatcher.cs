using System.Diagnostics;
using System.Threading.Channels;
using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>
/// Dynamic batching: concurrent requests queue in a channel; each worker takes the requests queued right now
/// (up to the max batch, same per-row shapes), concatenates them along the batch axis, runs the model once and
/// hands each request its rows. A batch waits up to the max queue delay only while other requests are still
/// being received: a lone client never pays the delay, while a busy server batches whatever piled up while the
/// model was running.
/// </summary>
public sealed class DynamicBatcher : IAsyncDisposable
{
    private readonly DeployedModel _model;
    private readonly ServerMetrics _metrics;
    private readonly Channel<Pending> _queue;
    private readonly Task[] _workers;
    private readonly long _maxDelayTicks;
    private int _arriving;

    private sealed record Pending(IReadOnlyList<ModelTensor> Inputs, long Rows, string Key, long EnqueuedAt)
    {
        public readonly TaskCompletionSource<IReadOnlyList<ModelTensor>> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public DynamicBatcher(DeployedModel model, ServerMetrics metrics, int maxBatchSize, int maxQueueDelayMicroseconds, int workers, int maxQueueLength)
    {
        _model = model;
        _metrics = metrics;
        MaxBatchSize = maxBatchSize;
        MaxQueueDelayMicroseconds = maxQueueDelayMicroseconds;
        _maxDelayTicks = maxQueueDelayMicroseconds * Stopwatch.Frequency / 1_000_000;
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(maxQueueLength)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = workers == 1,
        });
        _workers = Enumerable.Range(0, workers).Select(_ => Task.Run(WorkAsync)).ToArray();
    }

    public int MaxBatchSize { get; }
    public int MaxQueueDelayMicroseconds { get; }
    public int Workers => _workers.Length;

    /// <summary>Marks a request as being received, so a forming batch may wait for it; pair with <see cref="Arrived"/>.</summary>
    public void Arriving() => Interlocked.Increment(ref _arriving);

    public void Arrived() => Interlocked.Decrement(ref _arriving);

    /// <summary>Queues validated inputs whose first axis is the batch axis; completes with this request's outputs.</summary>
    public Task<IReadOnlyList<ModelTensor>> InferAsync(IReadOnlyList<ModelTensor> inputs)
    {
        var rows = inputs[0].Shape[0];
        // Requests batch together only when every input has the same per-row shape.
        var key = string.Join(";", inputs.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => t.Name + ":" + string.Join(",", t.Shape.Skip(1))));
        var pending = new Pending(inputs, rows, key, Stopwatch.GetTimestamp());
        if (!_queue.Writer.TryWrite(pending))
            throw new RequestException(StatusCodes.Status503ServiceUnavailable,
                $"model '{_model.Name}' has {_queue.Reader.Count} requests queued; try again later");
        return pending.Done.Task;
    }

    private async Task WorkAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Pending>(MaxBatchSize);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!reader.TryRead(out var first)) continue;
            batch.Clear();
            batch.Add(first);
            var rows = first.Rows;
            var deadline = first.EnqueuedAt + _maxDelayTicks;
            while (rows < MaxBatchSize)
            {
                if (reader.TryPeek(out var next))
                {
                    if (next.Key != first.Key || rows + next.Rows > MaxBatchSize) break;
                    if (!reader.TryRead(out next)) continue;
                    batch.Add(next);
                    rows += next.Rows;
                    continue;
                }
                // Nothing queued: wait only for requests already on their way, and only until the deadline.
                var now = Stopwatch.GetTimestamp();
                if (Volatile.Read(ref _arriving) == 0 || now >= deadline) break;
                // Short waits spin (timers are too coarse for microseconds); long ones sleep.
                if (deadline - now > 2 * Stopwatch.Frequency / 1000) await Task.Delay(1).ConfigureAwait(false);
                else Thread.Yield();
            }
            Execute(batch, rows);
        }
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

    private IReadOnlyList<ModelTensor> Concat(List<Pending> batch, long rows)
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
                throw new InvalidOperationException($"output '{output.Name}' has shape [{string.Join(",", output.Shape)}], not {rows} batch rows; it cannot be split.");
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

    /// <summary>Stops taking requests and lets the workers finish what is queued.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
    }
}
