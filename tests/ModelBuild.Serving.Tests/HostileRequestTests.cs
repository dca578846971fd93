using System.Net;
using System.Text;
using System.Text.Json;

namespace ModelBuild.Serving.Tests;

/// <summary>
/// Requests a client should never be able to turn into a 500, an unbounded /metrics or a wrong answer: each was
/// found by probing a running server (malformed UTF-8, broken multipart, hostile zlib streams, label flooding) or by
/// reading the KServe v2 / Triton protocol against what the server did.
/// </summary>
public sealed class HostileRequestTests(ServerFixture f) : IClassFixture<ServerFixture>
{
    private static readonly string Pixels = string.Join(",", Enumerable.Repeat("0.5", 784));

    private async Task<(HttpStatusCode Status, string Text)> Send(HttpContent content, string path = "v2/models/fashion/infer")
    {
        using var response = await f.Http.PostAsync(path, content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static ByteArrayContent Bytes(byte[] body, string type)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(type);
        return content;
    }

    [Theory]
    [InlineData("{\"id\":\"\xff\xfe\",\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":[PIXELS]}]}", "'id' is not valid UTF-8")]
    [InlineData("{\"inputs\":[{\"name\":\"in\xffput\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":[PIXELS]}]}", "'name' is not valid UTF-8")]
    [InlineData("{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"FP\xff\",\"data\":[PIXELS]}]}", "'datatype' is not valid UTF-8")]
    public async Task Invalid_utf8_in_a_string_is_a_400_naming_the_field(string template, string expected)
    {
        // The \xff in the template stands for the raw byte 0xFF (Latin-1 keeps it one byte).
        var body = Encoding.Latin1.GetBytes(template.Replace("PIXELS", Pixels));
        var (status, text) = await Send(Bytes(body, "application/json"));
        Assert.True(status == HttpStatusCode.BadRequest, text);
        Assert.Contains(expected, JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task An_empty_outputs_list_asks_for_every_output()
    {
        var (status, text) = await Send(new StringContent($$"""{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[{{Pixels}}]}],"outputs":[]}""", Encoding.UTF8, "application/json"));
        Assert.True(status == HttpStatusCode.OK, text);
        var outputs = JsonDocument.Parse(text).RootElement.GetProperty("outputs");
        Assert.Equal("logits", outputs[0].GetProperty("name").GetString());
        Assert.Equal(10, outputs[0].GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task Broken_multipart_uploads_to_predict_are_400()
    {
        var (status, text) = await Send(Bytes("abc"u8.ToArray(), "multipart/form-data"), "predict");
        Assert.True(status == HttpStatusCode.BadRequest, text);
        Assert.Contains("multipart upload cannot be read", text);
        (status, text) = await Send(Bytes("garbage without any boundary line"u8.ToArray(), "multipart/form-data; boundary=XX"), "predict");
        Assert.True(status == HttpStatusCode.BadRequest, text);
    }

    [Fact]
    public async Task A_raw_png_sent_with_curls_default_form_content_type_is_still_an_image()
    {
        var png = TestImages.Png(28, 28, new byte[784]);
        var (status, text) = await Send(Bytes(png, "application/x-www-form-urlencoded"), "predict");
        Assert.True(status == HttpStatusCode.OK, text);
        Assert.Equal(5, JsonDocument.Parse(text).RootElement.GetProperty("predictions").GetArrayLength());
    }

    [Fact]
    public async Task A_png_whose_zlib_stream_wants_a_preset_dictionary_is_400()
    {
        // zlib header 78 20: FDICT set, then a dictionary id; .NET's inflater refuses it with a ZLibException.
        var png = TestImages.PngWithImageData(4, 4, [0x78, 0x20, 0x00, 0x00, 0x00, 0x01, 0x63, 0x00, 0x00]);
        var (status, text) = await Send(Bytes(png, "image/png"), "predict");
        Assert.True(status == HttpStatusCode.BadRequest, text);
        Assert.Contains("corrupt or truncated", text);
    }

    [Fact]
    public async Task Requests_for_unknown_models_do_not_add_metric_series()
    {
        var name = "nosuch" + Guid.NewGuid().ToString("N");
        Assert.Equal(HttpStatusCode.NotFound, (await f.Http.GetAsync($"v2/models/{name}/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(Bytes(TestImages.Png(28, 28, new byte[784]), "image/png"), $"predict?model={name}")).Status);
        var metrics = await f.Http.GetStringAsync("metrics");
        Assert.DoesNotContain(name, metrics);
        Assert.Contains("modelbuild_http_requests_total{endpoint=\"model_ready\",model=\"\",code=\"404\"}", metrics);
    }

    [Fact]
    public async Task Only_implemented_extensions_are_advertised_and_repository_load_and_unload_answer()
    {
        var extensions = JsonDocument.Parse(await f.Http.GetStringAsync("v2")).RootElement.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(["model_repository", "binary_tensor_data"], extensions);
        Assert.Equal(HttpStatusCode.OK, (await Send(new StringContent("{}"), "v2/repository/models/fashion/load")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(new StringContent("{}"), "v2/repository/models/other/load")).Status);
        var (status, text) = await Send(new StringContent("{}"), "v2/repository/models/fashion/unload");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("fixed set", text);
    }
}
