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
            // Not ready while shutting down, so load balancers stop sending before connections close.
            if (!state.Ready) c.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return EndpointRunner.WriteJson(c, w => { w.WriteStartObject(); w.WriteBoolean("ready", state.Ready); w.WriteEndObject(); });
        }));

        app.MapGet("/v2", (HttpContext c) => run.Run(c, "server_metadata", "", () => EndpointRunner.WriteJson(c, w =>
        {
            w.WriteStartObject();
            w.WriteString("name", "modelbuild");
            w.WriteString("version", typeof(KServeEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
            w.WriteStartArray("extensions");
            w.WriteStringValue("model_repository");
            w.WriteStringValue("statistics");
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

        foreach (var prefix in new[] { "/v2/models/{name}", "/v2/models/{name}/versions/{version}" })
        {
            app.MapGet(prefix, (HttpContext c, string name, string? version) => run.Run(c, "model_metadata", name, () =>
                EndpointRunner.WriteJson(c, w => WriteMetadata(w, Resolve(models, name, version)))));

            app.MapGet(prefix + "/ready", (HttpContext c, string name, string? version) => run.Run(c, "model_ready", name, () =>
            {
                var m = Resolve(models, name, version);
                return EndpointRunner.WriteJson(c, w => { w.WriteStartObject(); w.WriteString("name", m.Name); w.WriteBoolean("ready", state.Ready); w.WriteEndObject(); });
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

    private static async Task Infer(HttpContext c, ServedModel model, ServerState state)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var success = false;
        model.Batcher?.Arriving();
        var arriving = model.Batcher is not null;
        try
        {
            InferRequest request;
            using (var document = await JsonDocument.ParseAsync(c.Request.Body, new JsonDocumentOptions { MaxDepth = 64 }, c.RequestAborted).ConfigureAwait(false))
                request = InferRequestReader.Read(document.RootElement, model.Model, c.Request.ContentLength ?? state.MaxRequestBodyBytes);
            if (arriving) { model.Batcher!.Arrived(); arriving = false; }
            var outputs = await model.InferAsync(request.Inputs).ConfigureAwait(false);
            await EndpointRunner.WriteJson(c, w => InferResponseWriter.Write(w, model.Name, request.Id, outputs, request.RequestedOutputs)).ConfigureAwait(false);
            success = true;
        }
        finally
        {
            if (arriving) model.Batcher!.Arrived();
            state.Metrics.Inference(model.Name, success, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
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
