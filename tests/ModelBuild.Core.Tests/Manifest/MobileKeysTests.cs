using ModelBuild.Manifest;

namespace ModelBuild.Core.Tests.Manifest;

/// <summary>deploy.mobile as one value or a list, and deploy.tflite: values, defaults and located errors.</summary>
public sealed class MobileKeysTests
{
    private static ManifestWorkspace Workspace() => new("models/m.onnx");

    private static string WithDeploy(string deploy) =>
        "schema: 1\nmodels:\n  - name: m\n    source: models/m.onnx\n    deploy:\n"
        + string.Join("", deploy.Split('\n').Select(l => "      " + l + "\n"));

    private static DeploySpec Bind(string deploy)
    {
        using var ws = Workspace();
        var manifest = ws.Parse(WithDeploy(deploy));
        Assert.Empty(ws.Diagnostics);
        return manifest!.Models[0].Deploy;
    }

    [Fact]
    public void A_single_value_a_list_and_none_bind()
    {
        Assert.Equal([MobileFormat.Ort], Bind("mobile: ort").Mobile);
        Assert.Null(Bind("mobile: ort").Tflite);
        Assert.Equal([MobileFormat.Tflite], Bind("mobile: tflite").Mobile);
        Assert.Equal([MobileFormat.Ort, MobileFormat.Tflite], Bind("mobile: [ort, tflite]").Mobile);
        Assert.Empty(Bind("mobile: none").Mobile);
        Assert.Empty(Bind("variant: base").Mobile);
    }

    [Fact]
    public void Tflite_settings_default_to_nhwc_and_float_and_bind_when_given()
    {
        var defaults = Bind("mobile: tflite").Tflite!;
        Assert.Equal(TfliteLayout.Nhwc, defaults.Layout);
        Assert.Equal(TfliteIo.Float, defaults.Io);
        var set = Bind("mobile: [tflite]\ntflite: { layout: model, io: int8 }").Tflite!;
        Assert.Equal(TfliteLayout.Model, set.Layout);
        Assert.Equal(TfliteIo.Int8, set.Io);
    }

    [Theory]
    [InlineData("mobile: ort\ntflite: { io: int8 }", "tflite:", "MB1004", "'mobile' does not list tflite")]
    [InlineData("mobile: [tflite, tflite]", "tflite]", "MB1004", "lists tflite twice")]
    [InlineData("mobile: [ort, coreml]", "coreml", "MB1004", "expected one of: ort, tflite")]
    [InlineData("mobile: tflite\ntflite: { layout: nchw }", "nchw", "MB1004", "expected one of: nhwc, model")]
    [InlineData("mobile: tflite\ntflite: { quantize: true }", "quantize", "MB1003", "quantize")]
    public void Mistakes_are_located(string deploy, string needle, string code, string message)
    {
        using var ws = Workspace();
        var yaml = WithDeploy(deploy);
        var i = yaml.LastIndexOf(needle, StringComparison.Ordinal);
        var line = yaml[..i].Count(c => c == '\n') + 1;
        var column = i - (yaml.LastIndexOf('\n', i - 1) + 1) + 1;
        var d = ws.ExpectSingle(yaml, code, line, column);
        Assert.Contains(message, d.Message);
    }
}
