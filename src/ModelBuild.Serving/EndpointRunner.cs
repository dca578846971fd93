using System.Text.Json;

namespace ModelBuild.Serving;

/// <summary>
/// Runs an endpoint body: what the client got wrong becomes a 4xx with <c>{"error": message}</c> (the KServe v2
/// error shape), overload a 503, and only a genuine server bug a 500, logged; every answer is counted in /metrics.
/// </summary>
internal sealed class EndpointRunner(ServerMetrics metrics, ModelRepository models, ILogger<EndpointRunner> logger)
{
    /// <summary>What /metrics records for a request the client abandoned (nginx's "client closed request").</summary>
    public const int ClientClosedRequest = 499;

    public async Task Run(HttpContext context, string endpoint, string model, Func<Task> body)
    {
        metrics.RequestStarted();
        try
        {
            await body().ConfigureAwait(false);
        }
        catch (RequestException e)
        {
            await Error(context, e.StatusCode, e.Message).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own limits, e.g. 413 for a body over MaxRequestBodySize.
            await Error(context, e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? "the request body is larger than this server accepts" : e.Message).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            await Error(context, StatusCodes.Status400BadRequest, $"the request body is not valid JSON: {e.Message}").ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away (a cancelled read, or a reset connection mid-body); nobody is left to answer.
            if (!context.Response.HasStarted) context.Response.StatusCode = ClientClosedRequest;
        }
        catch (Exception e)
        {
            logger.LogError(e, "{Endpoint} failed for model {Model}", endpoint, model);
            await Error(context, StatusCodes.Status500InternalServerError, $"internal server error: {e.GetType().Name}").ConfigureAwait(false);
        }
        finally
        {
            metrics.RequestEnded();
            // Only names of served models become labels: a client must not be able to grow /metrics without bound.
            metrics.Request(endpoint, model.Length == 0 || models.Find(model) is not null ? model : "", context.Response.StatusCode);
        }
    }

    public static async Task Error(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted) return;
        context.Response.Clear();
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable) context.Response.Headers.RetryAfter = "1";
        await WriteJson(context, w => { w.WriteStartObject(); w.WriteString("error", message); w.WriteEndObject(); }).ConfigureAwait(false);
    }

    // Messages are read by people through curl: quotes in them stay quotes rather than \u0027. The body is served as
    // application/json, never embedded in HTML, which is what the default escaping guards against.
    private static readonly JsonWriterOptions ReadableJson =
        new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task WriteJson(HttpContext context, Action<Utf8JsonWriter> write)
    {
        context.Response.ContentType = "application/json";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, ReadableJson)) write(w);
        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }
}
