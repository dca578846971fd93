namespace ModelBuild.Serving;

/// <summary>
/// <c>POST /predict</c>: an image in (multipart upload in field <c>file</c> as with a FastAPI <c>UploadFile</c>, or
/// the raw PNG/PGM/PPM bytes as the body), the top classes out. <c>?model=</c> picks the model when the server has
/// several; <c>?top=</c> sets how many classes (default 5).
/// </summary>
internal static class PredictEndpoint
{
    public static void Map(WebApplication app, ModelRepository models, ServerState state)
    {
        var run = app.Services.GetRequiredService<EndpointRunner>();
        // A decoded image holds 3 bytes per RGB pixel (up to 50 MB at the 4096x4096 limit): decodes beyond one per
        // core wait, so concurrent uploads cannot multiply that.
        var decodes = new SemaphoreSlim(Environment.ProcessorCount);
        app.MapPost("/predict", (HttpContext c) =>
        {
            var name = c.Request.Query["model"].ToString();
            return run.Run(c, "predict", name, () => Predict(c, models, state, name, decodes));
        });
    }

    private static async Task Predict(HttpContext c, ModelRepository models, ServerState state, string name, SemaphoreSlim decodes)
    {
        ServedModel model;
        if (name.Length > 0) model = models.Get(name);
        else if (models.All.Count == 1) model = models.All.First();
        else throw RequestException.BadRequest($"this server has several models; name one with ?model= " +
            $"({string.Join(", ", models.All.Select(m => m.Name))})");

        var top = 5;
        if (c.Request.Query.TryGetValue("top", out var topText) && (!int.TryParse(topText, out top) || top is < 1 or > 1000))
            throw RequestException.BadRequest("'top' must be an integer from 1 to 1000");
        if (model.Model.Inputs.Count != 1)
            throw RequestException.BadRequest($"/predict needs a model with one image input; '{model.Name}' has {model.Model.Inputs.Count} inputs");

        var bytes = await ReadImage(c).ConfigureAwait(false);
        ModelBuild.Runtime.ModelTensor input;
        await decodes.WaitAsync(c.RequestAborted).ConfigureAwait(false);
        try
        {
            input = ImagePreprocessor.ToInput(ImageDecoder.Decode(bytes), model.Model.Inputs[0], model.Preprocessing);
        }
        finally
        {
            decodes.Release();
        }
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var outputs = await model.InferAsync([input], cancellationToken: c.RequestAborted).ConfigureAwait(false);
        state.Metrics.Inference(model.Name, true, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);

        var scores = outputs[0].Data as float[]
            ?? throw RequestException.BadRequest($"/predict needs a float32 first output; '{outputs[0].Name}' is {outputs[0].Type}");
        var probabilities = ToProbabilities(scores);
        var labels = state.Options.Labels;
        var ranked = Enumerable.Range(0, probabilities.Length).OrderByDescending(i => probabilities[i]).ThenBy(i => i).Take(top).ToList();
        await EndpointRunner.WriteJson(c, w =>
        {
            w.WriteStartObject();
            w.WriteString("model", model.Name);
            w.WriteStartArray("predictions");
            foreach (var i in ranked)
            {
                w.WriteStartObject();
                w.WriteString("label", i < labels.Count ? labels[i] : $"class {i}");
                w.WriteNumber("index", i);
                w.WriteNumber("probability", Math.Round(probabilities[i], 6));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadImage(HttpContext c)
    {
        // Only a multipart upload is a form here: curl --data-binary sends a raw image as x-www-form-urlencoded.
        if (c.Request.ContentType is { } type && type.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            IFormCollection form;
            try
            {
                form = await c.Request.ReadFormAsync(c.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidDataException or IOException && !c.RequestAborted.IsCancellationRequested)
            {
                throw RequestException.BadRequest($"the multipart upload cannot be read: {e.Message}");
            }
            var file = form.Files.GetFile("file") ?? form.Files.FirstOrDefault()
                ?? throw RequestException.BadRequest("the form has no file; upload the image in field 'file'");
            using var s = new MemoryStream();
            await file.CopyToAsync(s, c.RequestAborted).ConfigureAwait(false);
            return s.ToArray();
        }
        using var body = new MemoryStream();
        await c.Request.Body.CopyToAsync(body, c.RequestAborted).ConfigureAwait(false);
        if (body.Length == 0)
            throw RequestException.BadRequest("the request has no image; send PNG/PGM/PPM bytes or a multipart upload in field 'file'");
        return body.ToArray();
    }

    /// <summary>Scores that already form a distribution are kept; logits go through a softmax.</summary>
    private static double[] ToProbabilities(float[] scores)
    {
        if (!scores.All(float.IsFinite))
            throw new RequestException(StatusCodes.Status422UnprocessableEntity, "the model's scores for this image are not all finite (NaN or " +
                "infinity); they cannot be ranked");
        var sum = scores.Sum(s => (double)s);
        if (scores.All(s => s is >= 0 and <= 1) && Math.Abs(sum - 1) < 1e-3) return scores.Select(s => (double)s).ToArray();
        var max = scores.Max();
        var exp = scores.Select(s => Math.Exp(s - max)).ToArray();
        var total = exp.Sum();
        return exp.Select(e => e / total).ToArray();
    }
}
