using System.Text.Json;
using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>
/// The KServe v2 HTTP/REST protocol, as Triton speaks it: health, server and model metadata, readiness, inference
/// with JSON tensors, and Triton's repository index. ModelBuild serves one version of each model, "1".
/// </summary>
internal static class KServeEndpoints
{
    public const string Version = "1";

    public static void Map(WebApplication app, ModelRepository models, ServerState state)
    {
        var run = app.Services.GetRequiredService<EndpointRunner>();

        app.MapGet("/v2/health/live", (HttpContext c) => run.Run(c, "live", "", () =>
            EndpointRunner.WriteJson(c, w => { w.WriteStartObject(); w.WriteBoolean("live", true); w.WriteEndObject(); })));

        app.MapGet("/v2/health/ready", (HttpContext c) => run.Run(c, "ready", "", () =>
        {
            // Not ready while shutting down, so load balancers stop sending before connections close. KServe v2:
            // "a 4xx status code indicates false" (Triton answers 400 too).
            if (!state.Ready) c.Response.StatusCode = StatusCodes.Status400BadRequest;
            return EndpointRunner.WriteJson(c, w => { w.WriteStartObject(); w.WriteBoolean("ready", state.Ready); w.WriteEndObject(); });
        }));

        app.MapGet("/v2", (HttpContext c) => run.Run(c, "server_metadata", "", () => EndpointRunner.WriteJson(c, w =>
        {
            w.WriteStartObject();
            w.WriteString("name", "modelbuild");
            w.WriteString("version", typeof(KServeEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
            w.WriteStartArray("extensions");
            // Only what is implemented: the repository index (load/unload answer that the set is fixed) and binary
            // tensors. Triton's statistics extension is not served; /metrics has the same counts.
            w.WriteStringValue("model_repository");
            w.WriteStringValue("binary_tensor_data");
            w.WriteEndArray();
            w.WriteEndObject();
        })));

        app.MapPost("/v2/repository/index", (HttpContext c) => run.Run(c, "repository_index", "", () => EndpointRunner.WriteJson(c, w =>
        {
            w.WriteStartArray();
            foreach (var m in models.All)
            {
                w.WriteStartObject();
                w.WriteString("name", m.Name);
                w.WriteString("version", Version);
                w.WriteString("state", "READY");
                w.WriteEndObject();
            }
            w.WriteEndArray();
        })));

        // The model_repository extension's load and unload: the served set is fixed at start, so loading a served
        // model is a no-op and anything else is refused with the reason.
        app.MapPost("/v2/repository/models/{name}/load", (HttpContext c, string name) => run.Run(c, "repository_load", name, () =>
        {
            models.Get(name);
            return EndpointRunner.WriteJson(c, w => { w.WriteStartObject(); w.WriteEndObject(); });
        }));
        app.MapPost("/v2/repository/models/{name}/unload", (HttpContext c, string name) => run.Run(c, "repository_unload", name, () =>
        {
            models.Get(name);
            throw RequestException.BadRequest($"model '{name}' cannot be unloaded: modelbuild serve serves a fixed set of models; restart it " +
                $"with --model to change the set");
        }));

        foreach (var prefix in new[] { "/v2/models/{name}", "/v2/models/{name}/versions/{version}" })
        {
            app.MapGet(prefix, (HttpContext c, string name, string? version) => run.Run(c, "model_metadata", name, () =>
                EndpointRunner.WriteJson(c, w => WriteMetadata(w, Resolve(models, name, version)))));

            app.MapGet(prefix + "/ready", (HttpContext c, string name, string? version) => run.Run(c, "model_ready", name, () =>
            {
                var m = Resolve(models, name, version);
                if (!state.Ready) c.Response.StatusCode = StatusCodes.Status400BadRequest;
                return EndpointRunner.WriteJson(c, w =>
                {
                    w.WriteStartObject();
                    w.WriteString("name", m.Name);
                    w.WriteBoolean("ready", state.Ready);
                    w.WriteEndObject();
                });
            }));

            app.MapPost(prefix + "/infer", (HttpContext c, string name, string? version) => run.Run(c, "infer", name, () =>
                Infer(c, Resolve(models, name, version), state)));
        }
    }

    private static ServedModel Resolve(ModelRepository models, string name, string? version)
    {
        var model = models.Get(name);
        if (version is not null && version != Version)
            throw RequestException.NotFound($"model '{name}' has no version '{version}'; ModelBuild serves version {Version}");
        return model;
    }

    private const string HeaderLength = KServeTypes.InferenceHeaderLength;

    private static async Task Infer(HttpContext c, ServedModel model, ServerState state)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var success = false;
        model.Batcher?.Arriving();
        var arriving = model.Batcher is not null;
        byte[]? body = null;
        try
        {
            // The whole body in a pooled buffer, parsed in place: no DOM, no per-request body allocation.
            int length;
            (body, length) = await ReadBody(c.Request, state.MaxRequestBodyBytes, c.RequestAborted).ConfigureAwait(false);
            var jsonLength = length;
            if (c.Request.Headers.TryGetValue(HeaderLength, out var header))
            {
                if (!int.TryParse(header.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture,
                    out jsonLength) || jsonLength > length)
                    throw RequestException.BadRequest($"{HeaderLength} '{header}' is not a length between 0 and the body's {length} bytes");
            }
            var request = InferRequestReader.Read(body.AsSpan(0, jsonLength), body.AsSpan(jsonLength, length - jsonLength),
                model.Model, Math.Max(length, 1));
            System.Buffers.ArrayPool<byte>.Shared.Return(body);
            body = null;
            // The batcher clears the arriving mark as it queues the request (or refuses it).
            var markedArriving = arriving;
            arriving = false;
            var outputs = await model.InferAsync(request.Inputs, markedArriving, c.RequestAborted).ConfigureAwait(false);
            await WriteResponse(c, model.Name, request, outputs).ConfigureAwait(false);
            success = true;
        }
        finally
        {
            if (body is not null) System.Buffers.ArrayPool<byte>.Shared.Return(body);
            if (arriving) model.Batcher!.Arrived();
            state.Metrics.Inference(model.Name, success, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private static async Task<(byte[] Buffer, int Length)> ReadBody(HttpRequest request, long max, CancellationToken cancel)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Clamp(request.ContentLength ?? 16 * 1024, 1, Math.Min(max, 1 << 30)));
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    // Chunked or under-declared body: grow (Kestrel's MaxRequestBodySize still bounds it).
                    var bigger = System.Buffers.ArrayPool<byte>.Shared.Rent(checked(buffer.Length * 2));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                var n = await request.Body.ReadAsync(buffer.AsMemory(length), cancel).ConfigureAwait(false);
                if (n == 0) return (buffer, length);
                length += n;
            }
        }
        catch
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static async Task WriteResponse(HttpContext c, string model, InferRequest request, IReadOnlyList<ModelTensor> outputs)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        List<ModelTensor> binary;
        using (var w = new Utf8JsonWriter(buffer)) binary = InferResponseWriter.Write(w, model, request.Id, outputs, request);
        if (binary.Count > 0)
        {
            c.Response.Headers[HeaderLength] = buffer.WrittenCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (var t in binary) InferResponseWriter.WriteBytes(buffer, t);
            c.Response.ContentType = "application/octet-stream";
        }
        else c.Response.ContentType = "application/json";
        c.Response.ContentLength = buffer.WrittenCount;
        await c.Response.Body.WriteAsync(buffer.WrittenMemory, c.RequestAborted).ConfigureAwait(false);
    }

    private static void WriteMetadata(Utf8JsonWriter w, ServedModel m)
    {
        w.WriteStartObject();
        w.WriteString("name", m.Name);
        w.WriteStartArray("versions");
        w.WriteStringValue(Version);
        w.WriteEndArray();
        w.WriteString("platform", "onnxruntime_onnx");
        w.WriteStartObject("parameters");
        if (m.Model.Variant is not null) w.WriteString("variant", m.Model.Variant);
        w.WriteNumber("max_batch_size", m.MaxBatchSize);
        w.WriteBoolean("dynamic_batching", m.Batcher is not null);
        w.WriteEndObject();
        Tensors(w, "inputs", m.Model.Inputs);
        Tensors(w, "outputs", m.Model.Outputs);
        w.WriteEndObject();
    }

    private static void Tensors(Utf8JsonWriter w, string property, IReadOnlyList<TensorSpec> specs)
    {
        w.WriteStartArray(property);
        foreach (var t in specs)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("datatype", KServeTypes.Name(t.Type));
            w.WriteStartArray("shape");
            foreach (var d in t.Dims) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
