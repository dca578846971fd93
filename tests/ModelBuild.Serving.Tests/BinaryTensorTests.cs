using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json;
using ModelBuild.Data;
using ModelBuild.Runtime;

namespace ModelBuild.Serving.Tests;

/// <summary>The binary tensor data extension over real HTTP, with the wire bytes built by hand (not by the server's code).</summary>
public sealed class BinaryTensorTests(ServerFixture f) : IClassFixture<ServerFixture>
{
    private static readonly float[] Images = (float[])NpzReader.Read(ServerFixture.TestData, ["input"])["input"].Data;

    private static byte[] LittleEndian(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    private async Task<HttpResponseMessage> Send(string header, byte[] binary, bool withLengthHeader = true)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var message = new HttpRequestMessage(HttpMethod.Post, "v2/models/fashion/infer") { Content = new ByteArrayContent([.. json, .. binary]) };
        message.Content.Headers.ContentType = new("application/octet-stream");
        if (withLengthHeader) message.Headers.Add("Inference-Header-Content-Length", json.Length.ToString());
        return await f.Http.SendAsync(message);
    }

    private float[] Local(float[] data, int batch) => f.Local.Run([new ModelTensor("input", data, [batch, 1, 28, 28])])[0].As<float>();

    [Fact]
    public async Task Binary_inputs_and_outputs_match_onnx_runtime_in_process()
    {
        var data = Images[..(3 * 784)];
        using var response = await Send(
            """{"id":"b1","inputs":[{"name":"input","shape":[3,1,28,28],"datatype":"FP32","parameters":{"binary_data_size":9408}}],"outputs":[{"name":"logits","parameters":{"binary_data":true}}]}""",
            LittleEndian(data));
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(body));
        var jsonLength = int.Parse(response.Headers.GetValues("Inference-Header-Content-Length").Single());
        var output = JsonDocument.Parse(body.AsMemory(0, jsonLength)).RootElement.GetProperty("outputs")[0];
        Assert.Equal(120, output.GetProperty("parameters").GetProperty("binary_data_size").GetInt32());
        Assert.False(output.TryGetProperty("data", out _));
        Assert.Equal(jsonLength + 120, body.Length);
        var local = Local(data, 3);
        for (var i = 0; i < local.Length; i++)
            Assert.Equal(local[i], BinaryPrimitives.ReadSingleLittleEndian(body.AsSpan(jsonLength + i * 4)));
    }

    [Fact]
    public async Task Binary_inputs_may_get_json_outputs_and_metadata_lists_the_extension()
    {
        var data = Images[..784];
        using var response = await Send("""{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","parameters":{"binary_data_size":3136}}]}""", LittleEndian(data));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var served = JsonDocument.Parse(text).RootElement.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Assert.Equal(Local(data, 1), served);
        Assert.Contains("binary_tensor_data", await f.Http.GetStringAsync("v2"));
    }

    [Theory]
    [InlineData(true, false, false)]
    [InlineData(true, null, true)]
    [InlineData(false, true, true)]
    public async Task An_outputs_own_binary_data_overrides_the_requests_binary_data_output(bool requestDefault, bool? outputFlag, bool binary)
    {
        var flag = outputFlag is { } o ? $$""","parameters":{"binary_data":{{(o ? "true" : "false")}}}""" : "";
        using var response = await Send(
            $$$"""{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","parameters":{"binary_data_size":3136}}],"parameters":{"binary_data_output":{{{(requestDefault ? "true" : "false")}}}},"outputs":[{"name":"logits"{{{flag}}}}]}""",
            LittleEndian(Images[..784]));
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(body));
        Assert.Equal(binary, response.Headers.Contains("Inference-Header-Content-Length"));
        var jsonLength = binary ? int.Parse(response.Headers.GetValues("Inference-Header-Content-Length").Single()) : body.Length;
        var output = JsonDocument.Parse(body.AsMemory(0, jsonLength)).RootElement.GetProperty("outputs")[0];
        Assert.Equal(!binary, output.TryGetProperty("data", out _));
        Assert.Equal(binary ? jsonLength + 40 : body.Length, body.Length);
    }

    [Fact]
    public async Task Json_data_before_shape_and_datatype_is_read_too()
    {
        var data = Images[..784];
        var json = $$"""{"inputs":[{"data":[{{string.Join(",", data.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}],"datatype":"FP32","shape":[1,1,28,28],"name":"input"}]}""";
        using var response = await f.Http.PostAsync("v2/models/fashion/infer", new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal(Local(data, 1), JsonDocument.Parse(text).RootElement.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(e => e.GetSingle()));
    }

    [Theory]
    [InlineData(3000, true, "needs 3136 bytes")]
    [InlineData(3136, false, "Inference-Header-Content-Length")]
    public async Task Bad_binary_requests_get_400_with_a_message(int declared, bool withLengthHeader, string expected)
    {
        using var response = await Send($$$"""{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","parameters":{"binary_data_size":{{{declared}}}}}]}""",
            LittleEndian(Images[..784]), withLengthHeader);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
    }
}
