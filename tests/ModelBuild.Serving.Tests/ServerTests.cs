using System.Net;
using System.Text;
using System.Text.Json;
using ModelBuild.Data;
using ModelBuild.Runtime;

namespace ModelBuild.Serving.Tests;

public sealed class ServerTests(ServerFixture f) : IClassFixture<ServerFixture>
{
    private static readonly (float[] Images, long[] Labels) Samples = LoadSamples();

    private static (float[], long[]) LoadSamples()
    {
        var arrays = NpzReader.Read(ServerFixture.TestData, ["input", "labels"]);
        return ((float[])arrays["input"].Data, (long[])arrays["labels"].Data);
    }

    private static float[] Image(int i, int count = 1) => Samples.Images[(i * 784)..((i + count) * 784)];

    private static string InferBody(float[] data, int batch, string datatype = "FP32", string shape = "") =>
        $$"""{"id":"t1","inputs":[{"name":"input","shape":{{(shape.Length > 0 ? shape : $"[{batch},1,28,28]")}},"datatype":"{{datatype}}","data":[{{string.Join(",", data.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}]}]}""";

    private async Task<(HttpStatusCode Status, JsonElement Body)> Post(string path, string json)
    {
        using var response = await f.Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Sends its first half and flushes, then the rest once <paramref name="release"/> completes.</summary>
    private sealed class HeldBackBody(byte[] body, Task release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(body.AsMemory(0, body.Length / 2));
            await stream.FlushAsync();
            await release;
            await stream.WriteAsync(body.AsMemory(body.Length / 2));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }

    private static double Series(string prometheus, string series) =>
        double.Parse(prometheus.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal))[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Batch-1 requests of images i % 8 that are all being received by the server at once: each body stops halfway
    /// until /metrics shows every request in flight, so whether they batch does not depend on how the machine
    /// happens to schedule the client. Returns each request's output.
    /// </summary>
    private static async Task<float[][]> InferAllAtOnce(HttpClient http, int count)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = Enumerable.Range(0, count).Select(async i =>
        {
            var content = new HeldBackBody(Encoding.UTF8.GetBytes(InferBody(Image(i % 8), 1)), release.Task);
            content.Headers.ContentType = new("application/json");
            using var response = await http.PostAsync("v2/models/fashion/infer", content);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            return JsonDocument.Parse(text).RootElement.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        }).ToArray();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (Series(await http.GetStringAsync("metrics"), "modelbuild_http_requests_in_flight") < count)
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), "the requests never all reached the server");
            await Task.Delay(10);
        }
        release.SetResult();
        return await Task.WhenAll(requests);
    }

    [Fact]
    public async Task Health_is_live_and_ready()
    {
        Assert.Equal(HttpStatusCode.OK, (await f.Http.GetAsync("v2/health/live")).StatusCode);
        using var ready = await f.Http.GetAsync("v2/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.True(JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("ready").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await f.Http.GetAsync("v2/models/fashion/ready")).StatusCode);
    }

    [Fact]
    public async Task Metadata_matches_the_model()
    {
        var json = JsonDocument.Parse(await f.Http.GetStringAsync("v2/models/fashion")).RootElement;
        Assert.Equal("fashion", json.GetProperty("name").GetString());
        Assert.Equal("onnxruntime_onnx", json.GetProperty("platform").GetString());
        var input = json.GetProperty("inputs")[0];
        Assert.Equal("input", input.GetProperty("name").GetString());
        Assert.Equal("FP32", input.GetProperty("datatype").GetString());
        Assert.Equal([-1L, 1, 28, 28], input.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        var output = json.GetProperty("outputs")[0];
        Assert.Equal("logits", output.GetProperty("name").GetString());
        Assert.Equal([-1L, 10], output.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(8, json.GetProperty("parameters").GetProperty("max_batch_size").GetInt32());
    }

    [Fact]
    public async Task Infer_returns_what_onnx_runtime_returns_in_process()
    {
        var data = Image(0, 3);
        var (status, body) = await Post("v2/models/fashion/infer", InferBody(data, 3));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("t1", body.GetProperty("id").GetString());
        var output = body.GetProperty("outputs")[0];
        Assert.Equal([3L, 10], output.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        var served = output.GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var local = f.Local.Run([new ModelTensor("input", data, [3, 1, 28, 28])])[0].As<float>();
        Assert.Equal(local.Length, served.Length);
        for (var i = 0; i < local.Length; i++) Assert.True(Math.Abs(local[i] - served[i]) <= 1e-5f, $"element {i}: {served[i]} vs {local[i]}");
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("[]", "JSON object")]
    [InlineData("""{"inputs":[]}""", "'inputs'")]
    [InlineData("""{"inputs":[{"name":"nope","shape":[1],"datatype":"FP32","data":[1]}]}""", "no input 'nope'")]
    [InlineData("""{"inputs":[{"name":"input","shape":[1,1,28,27],"datatype":"FP32","data":[1]}]}""", "expects [batch,1,28,28]")]
    [InlineData("""{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"INT64","data":[1]}]}""", "expects FP32")]
    [InlineData("""{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[1,2,3]}],"id":"PAD"}""", "needs 784")]
    [InlineData("""{"inputs":[{"name":"input","shape":[100000000,1,28,28],"datatype":"FP32","data":[1]}]}""", "too small")]
    [InlineData("""{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":["x"]}],"id":"PAD"}""", "not a valid FP32")]
    [InlineData("""{"inputs":[{"name":"input","shape":[-1,1,28,28],"datatype":"FP32","data":[]}]}""", "non-negative")]
    public async Task Bad_requests_get_400_with_a_message(string json, string expected)
    {
        // Padding makes the body big enough that the element-count bound does not answer first.
        var (status, body) = await Post("v2/models/fashion/infer", json.Replace("PAD", new string('p', 1000)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(expected, body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Batch_over_max_batch_size_and_unknown_model_and_version_are_refused()
    {
        var (status, body) = await Post("v2/models/fashion/infer", InferBody(Image(0, 9), 9));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("max_batch_size 8", body.GetProperty("error").GetString());
        (status, body) = await Post("v2/models/other/infer", InferBody(Image(0), 1));
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("'fashion'", body.GetProperty("error").GetString());
        (status, _) = await Post("v2/models/fashion/versions/2/infer", InferBody(Image(0), 1));
        Assert.Equal(HttpStatusCode.NotFound, status);
    }

    [Fact]
    public async Task Oversized_body_gets_413()
    {
        var (status, body) = await Post("v2/models/fashion/infer", InferBody(new float[200_000], 1));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("larger", body.GetProperty("error").GetString());
        // The server is still fine afterwards.
        Assert.Equal(HttpStatusCode.OK, (await Post("v2/models/fashion/infer", InferBody(Image(0), 1))).Status);
    }

    [Fact]
    public async Task Concurrent_requests_are_batched_and_each_gets_its_own_rows()
    {
        var before = f.Server.Metrics.Executions("fashion");
        var rowsBefore = f.Server.Metrics.Inferences("fashion");
        var results = (await InferAllAtOnce(f.Http, 32)).Select((served, i) => (i, served));
        var executions = f.Server.Metrics.Executions("fashion") - before;
        var rows = f.Server.Metrics.Inferences("fashion") - rowsBefore;
        Assert.Equal(32, rows);
        Assert.True(executions < 32, $"32 concurrent requests ran in {executions} executions: no batching");
        foreach (var (i, served) in results)
        {
            var local = f.Local.Run([new ModelTensor("input", Image(i % 8), [1, 1, 28, 28])])[0].As<float>();
            Assert.True(local.Zip(served, (a, b) => Math.Abs(a - b)).Max() <= 1e-5f, $"request {i} got another request's rows");
        }
        var metrics = await f.Http.GetStringAsync("metrics");
        Assert.Contains("nv_inference_exec_count{model=\"fashion\",version=\"1\"}", metrics);
        Assert.Contains("modelbuild_batch_size_bucket{model=\"fashion\",le=\"1\"}", metrics);
        Assert.True(f.Server.Metrics.MeanBatchSize("fashion") > 1);
    }

    [Fact]
    public async Task With_a_10_s_queue_delay_lone_requests_return_at_once_and_concurrent_ones_still_batch()
    {
        // A server of its own over the same folder, so no other test's requests mix into its metrics. The delay is far
        // above the bound below, so a queued lone request could not pass even on a loaded CI machine, while a cold
        // first request (JIT, first connection, first ORT run) has room.
        await using var server = await ModelServer.StartAsync(new ServerOptions { Directory = f.Directory, Port = 0, MaxQueueDelayMicroseconds = 10_000_000 });
        using var http = new HttpClient { BaseAddress = server.Address };
        async Task<float[]> Infer(int image)
        {
            using var response = await http.PostAsync("v2/models/fashion/infer", new StringContent(InferBody(Image(image), 1), Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            return JsonDocument.Parse(text).RootElement.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        }
        float[] Local(int image) => f.Local.Run([new ModelTensor("input", Image(image), [1, 1, 28, 28])])[0].As<float>();

        for (var i = 0; i < 5; i++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var served = await Infer(i);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"a lone request took {clock.Elapsed.TotalMilliseconds:F0} ms with a 10 s queue delay");
            Assert.True(Local(i).Zip(served, (a, b) => Math.Abs(a - b)).Max() <= 1e-5f);
        }
        var metrics = await http.GetStringAsync("metrics");
        const string Bucket1 = "modelbuild_batch_size_bucket{model=\"fashion\",le=\"1\"}", Count = "modelbuild_batch_size_count{model=\"fashion\"}";
        Assert.Equal(5, Series(metrics, Bucket1));
        Assert.Equal(5, Series(metrics, Count));

        var results = await InferAllAtOnce(http, 32);
        foreach (var (served, i) in results.Select((served, i) => (served, i)))
            Assert.True(Local(i % 8).Zip(served, (a, b) => Math.Abs(a - b)).Max() <= 1e-5f, $"request {i} got another request's rows");
        metrics = await http.GetStringAsync("metrics");
        Assert.Equal(37, Series(metrics, "nv_inference_count{model=\"fashion\",version=\"1\"}"));
        var executions = Series(metrics, Count) - 5;
        var alone = Series(metrics, Bucket1) - 5;
        Assert.True(executions < 32 && alone < executions, $"32 concurrent requests ran in {executions} executions, {alone} of them alone: no batching");
    }

    [Fact]
    public async Task Predict_returns_the_top_5_for_a_pgm_and_a_png()
    {
        for (var i = 0; i < 4; i++)
        {
            var pixels = Image(i).Select(TestImages.FashionPixel).ToArray();
            foreach (var (bytes, type) in new[] { (TestImages.Pgm(28, 28, pixels), "image/x-portable-graymap"), (TestImages.Png(28, 28, pixels), "image/png") })
            {
                var content = new ByteArrayContent(bytes);
                content.Headers.ContentType = new(type);
                using var response = await f.Http.PostAsync("predict", content);
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, text);
                var predictions = JsonDocument.Parse(text).RootElement.GetProperty("predictions").EnumerateArray().ToList();
                Assert.Equal(5, predictions.Count);
                Assert.Equal(Samples.Labels[i], predictions[0].GetProperty("index").GetInt64());
                var p = predictions.Select(x => x.GetProperty("probability").GetDouble()).ToList();
                Assert.Equal(p.OrderByDescending(x => x), p);
                Assert.True(p.Sum() <= 1.0001);
            }
        }
    }

    [Fact]
    public async Task Predict_refuses_what_is_not_an_image()
    {
        using var response = await f.Http.PostAsync("predict", new ByteArrayContent(Encoding.ASCII.GetBytes("hello")));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not a PNG", await response.Content.ReadAsStringAsync());
        var truncated = TestImages.Png(28, 28, new byte[784])[..60];
        using var r2 = await f.Http.PostAsync("predict", new ByteArrayContent(truncated));
        Assert.Equal(HttpStatusCode.BadRequest, r2.StatusCode);
    }

    [Fact]
    public async Task Unknown_endpoints_get_404_with_a_message()
    {
        using var response = await f.Http.GetAsync("v3/nothing");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("no endpoint", await response.Content.ReadAsStringAsync());
    }
}
