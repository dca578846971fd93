using System.Diagnostics;
using ModelBuild.Data;
using ModelBuild.Runtime;

namespace ModelBuild.Serving.Tests;

/// <summary>
/// The batcher on the real sample model, driven the way the infer endpoint drives it (Arriving while a body is
/// read, the mark handed to InferAsync). Queue delays are long so that nothing here depends on timing: a test
/// only passes quickly if the batcher acts on signals, not on the delay running out.
/// </summary>
public sealed class DynamicBatcherTests : IDisposable
{
    private static readonly float[] Images = (float[])NpzReader.Read(ServerFixture.TestData, ["input"])["input"].Data;
    private static readonly TimeSpan TenSeconds = TimeSpan.FromSeconds(10);

    private readonly DeployedModel _model = DeployedModel.Open(ServerFixture.ModelPath, "fashion");
    private readonly ServerMetrics _metrics = new();

    public void Dispose() => _model.Dispose();

    private DynamicBatcher NewBatcher(TimeSpan maxQueueDelay, int workers = 1) =>
        new(_model, _metrics, maxBatchSize: 8, (int)maxQueueDelay.TotalMicroseconds, workers, maxQueueLength: 1024);

    private static ModelTensor[] Input(int first, int rows = 1) => [new ModelTensor("input", Images[(first * 784)..((first + rows) * 784)], [rows, 1, 28, 28])];

    private void AssertOwnRows(IReadOnlyList<ModelTensor> served, ModelTensor[] input)
    {
        var local = _model.Run(input)[0];
        Assert.Equal(local.Shape, served[0].Shape);
        var expected = local.As<float>();
        var actual = served[0].As<float>();
        Assert.True(expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max() <= 1e-5f, "a request got rows that are not its own");
    }

    [Fact]
    public async Task A_lone_request_on_an_idle_batcher_runs_at_once_on_the_callers_thread()
    {
        await using var batcher = NewBatcher(TenSeconds);
        foreach (var i in new[] { 0, 1, 2 })
        {
            batcher.Arriving();
            var input = Input(i);
            var task = batcher.InferAsync(input, callerWasArriving: true);
            // Complete on return: no queue, no worker hand-off, and the 10 s queue delay never comes into it.
            Assert.True(task.IsCompletedSuccessfully);
            AssertOwnRows(await task, input);
        }
        Assert.Equal(3, _metrics.Executions("fashion"));
        Assert.Contains("modelbuild_batch_size_bucket{model=\"fashion\",le=\"1\"} 3", _metrics.Render());
    }

    [Fact]
    public async Task A_request_still_being_received_holds_the_batch_open_and_joins_it_as_soon_as_it_is_queued()
    {
        await using var batcher = NewBatcher(TenSeconds);
        batcher.Arriving();
        batcher.Arriving();
        var clock = Stopwatch.StartNew();
        var a = Input(0);
        var first = batcher.InferAsync(a, callerWasArriving: true);
        // The second request is still being received: the first waits for it rather than running alone.
        Assert.False(first.IsCompleted);
        var b = Input(1, rows: 2);
        var second = batcher.InferAsync(b, callerWasArriving: true);
        await Task.WhenAll(first, second).WaitAsync(TenSeconds / 2);
        Assert.True(clock.Elapsed < TenSeconds / 2, $"took {clock.Elapsed}: the batch waited for its delay instead of the arrival");
        AssertOwnRows(await first, a);
        AssertOwnRows(await second, b);
        Assert.Equal(1, _metrics.Executions("fashion"));
        Assert.Equal(3, _metrics.Inferences("fashion"));
        var metrics = _metrics.Render();
        Assert.Contains("modelbuild_batch_size_bucket{model=\"fashion\",le=\"1\"} 0", metrics);
        Assert.Contains("modelbuild_batch_size_bucket{model=\"fashion\",le=\"2\"} 1", metrics);

        // After a batch those clients are about to send again: the next request goes through the queue, where they
        // could join it. Nothing is being received, so it runs without waiting for the delay.
        var c = Input(3);
        AssertOwnRows(await batcher.InferAsync(c).WaitAsync(TenSeconds / 2), c);
        // It ran alone: requests come one at a time again and run directly.
        var d = Input(4);
        var direct = batcher.InferAsync(d);
        Assert.True(direct.IsCompletedSuccessfully);
        AssertOwnRows(await direct, d);
        Assert.Equal(3, _metrics.Executions("fashion"));
    }

    [Fact]
    public async Task A_batch_held_open_for_a_request_that_never_arrives_runs_when_the_max_queue_delay_has_passed()
    {
        var delay = TimeSpan.FromMilliseconds(300);
        await using var batcher = NewBatcher(delay);
        batcher.Arriving();
        batcher.Arriving(); // a client that never finishes sending its body
        var clock = Stopwatch.StartNew();
        var a = Input(0);
        var outputs = await batcher.InferAsync(a, callerWasArriving: true).WaitAsync(TenSeconds);
        Assert.True(clock.Elapsed >= delay * 0.9, $"ran after {clock.Elapsed.TotalMilliseconds:F0} ms, before the {delay.TotalMilliseconds} ms queue delay");
        AssertOwnRows(outputs, a);
        batcher.Arrived();
    }

    [Fact]
    public async Task Shutdown_runs_what_is_queued_then_refuses_new_requests_with_503()
    {
        var batcher = NewBatcher(TenSeconds);
        batcher.Arriving();
        batcher.Arriving();
        batcher.Arriving(); // never arrives: holds the batch open until shutdown
        var a = Input(0);
        var b = Input(1);
        var first = batcher.InferAsync(a, callerWasArriving: true);
        var second = batcher.InferAsync(b, callerWasArriving: true);
        Assert.False(first.IsCompleted || second.IsCompleted);
        await batcher.DisposeAsync().AsTask().WaitAsync(TenSeconds / 2);
        Assert.True(first.IsCompletedSuccessfully && second.IsCompletedSuccessfully);
        AssertOwnRows(await first, a);
        AssertOwnRows(await second, b);
        var refused = await Assert.ThrowsAsync<RequestException>(() => batcher.InferAsync(Input(2)));
        Assert.Equal(503, refused.StatusCode);
    }

    [Fact]
    public async Task Many_concurrent_callers_each_get_their_own_rows()
    {
        await using var batcher = NewBatcher(TimeSpan.FromMilliseconds(2), workers: 2);
        const int Callers = 8, PerCaller = 40;
        var results = await Task.WhenAll(Enumerable.Range(0, Callers).Select(caller => Task.Run(async () =>
        {
            var served = new List<(ModelTensor[] Input, IReadOnlyList<ModelTensor> Output)>();
            for (var i = 0; i < PerCaller; i++)
            {
                var input = Input((caller * PerCaller + i) % 90, rows: 1 + i % 3);
                // Half the calls go the endpoint's way (marked arriving first), half straight in.
                var marked = i % 2 == 0;
                if (marked) batcher.Arriving();
                served.Add((input, await batcher.InferAsync(input, marked)));
            }
            return served;
        }))).WaitAsync(TimeSpan.FromSeconds(60));
        foreach (var (input, output) in results.SelectMany(r => r)) AssertOwnRows(output, input);
        Assert.Equal(results.SelectMany(r => r).Sum(r => r.Input[0].Shape[0]), _metrics.Inferences("fashion"));
    }
}
