using System.Net;
using System.Text;
using System.Text.Json;
using ModelBuild.Runtime;

namespace ModelBuild.Serving.Tests;

/// <summary>Stopping a server of its own (not the shared fixture's): readiness, the drain delay, refusing new work.</summary>
public sealed class ShutdownTests
{
    private static string NewFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "mb-stop-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "models", "fashion"));
        File.Copy(ServerFixture.ModelPath, Path.Combine(dir, "models", "fashion", "model.onnx"));
        return dir;
    }

    private static StringContent Request() => new(
        $$"""{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[{{string.Join(",", Enumerable.Repeat("0.5", 784))}}]}]}""",
        Encoding.UTF8, "application/json");

    [Fact]
    public async Task During_the_shutdown_delay_readiness_is_400_while_inference_still_answers_then_the_listener_closes()
    {
        var dir = NewFolder();
        try
        {
            // Long enough that a loaded CI machine (test assemblies run in parallel) still gets its checks in.
            var delay = TimeSpan.FromSeconds(8);
            var server = await ModelServer.StartAsync(new ServerOptions { Directory = dir, Port = 0, ShutdownDelay = delay });
            using var http = new HttpClient { BaseAddress = server.Address };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("v2/health/ready")).StatusCode);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var stopping = Task.Run(() => server.DisposeAsync().AsTask());

            // Within the delay: both readiness answers say no (KServe v2: 4xx means false), work is still done.
            HttpResponseMessage ready;
            while ((ready = await http.GetAsync("v2/health/ready")).StatusCode == HttpStatusCode.OK)
                Assert.True(clock.Elapsed < delay, "readiness never turned false");
            Assert.Equal(HttpStatusCode.BadRequest, ready.StatusCode);
            Assert.False(JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("ready").GetBoolean());
            Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("v2/models/fashion/ready")).StatusCode);
            using (var infer = await http.PostAsync("v2/models/fashion/infer", Request()))
                Assert.Equal(HttpStatusCode.OK, infer.StatusCode);
            Assert.True(clock.Elapsed < delay, $"the checks took {clock.Elapsed}, past the {delay} delay: the test proves nothing");

            await stopping.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(clock.Elapsed >= delay * 0.9, $"stopped after {clock.Elapsed}, before the {delay} delay");
            await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("v2/health/live"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task An_unbatched_model_refuses_requests_with_503_once_it_is_closing()
    {
        var dir = NewFolder();
        try
        {
            var options = new ServerOptions { Directory = dir, Port = 0, MaxBatchSize = 1 };
            var model = new ServedModel(DeployedModel.Open(ServerFixture.ModelPath, "fashion"), options, new ServerMetrics());
            Assert.Null(model.Batcher);
            ModelTensor[] input = [new("input", new float[784], [1, 1, 28, 28])];
            Assert.Equal(10, (await model.InferAsync(input))[0].Data.Length);
            await model.DisposeAsync();
            var refused = await Assert.ThrowsAsync<RequestException>(() => model.InferAsync(input));
            Assert.Equal(503, refused.StatusCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
