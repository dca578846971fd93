using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.TorchScript.Conversion;

namespace ModelBuild.Core.Tests.Manifest;

/// <summary>export.arguments: forward()'s flags for a TorchScript source, and the TorchSharp/torchscript rules.</summary>
public sealed class ExportArgumentsTests
{
    private const string Head = """
        schema: 1
        models:
          - name: m
            source: m.pt
            inputs: [ { name: x, shape: [batch, 4] } ]
            export:
        """;

    [Fact]
    public void Bool_int_and_float_values_bind_and_reach_the_conversion_options()
    {
        using var ws = new ManifestWorkspace("m.pt");
        var spec = ws.Parse(Head + """

                  arguments: { use_dropout: true, repeats: 3, scale: 0.5, slope: -1e-2 }
            """)!.Models[0];
        Assert.Equal(true, spec.Export.Arguments["use_dropout"]);
        Assert.Equal(3L, spec.Export.Arguments["repeats"]);
        Assert.Equal(0.5, spec.Export.Arguments["scale"]);
        Assert.Equal(-0.01, spec.Export.Arguments["slope"]);
        var options = ConversionOptions.FromManifest(spec);
        Assert.Equal(true, options.ConstantArguments["use_dropout"]);
        Assert.Equal(4, options.ConstantArguments.Count);
    }

    [Fact]
    public void Default_is_no_arguments()
    {
        using var ws = new ManifestWorkspace("m.pt");
        var spec = ws.Parse(Head + " { torchscript: false }")!.Models[0];
        Assert.Empty(spec.Export.Arguments);
        Assert.Empty(ConversionOptions.FromManifest(spec).ConstantArguments);
    }

    [Theory]
    [InlineData("arguments: { flag: yes please }", 7, 26)]
    [InlineData("arguments: { flag: \"true\" }", 7, 26)]
    [InlineData("arguments: { flag: [1, 2] }", 7, 26)]
    [InlineData("arguments: { flag: }", 7, 26)]
    [InlineData("arguments: { bad-name: 1 }", 7, 20)]
    [InlineData("arguments: [ use_dropout ]", 7, 18)]
    public void Bad_values_and_names_are_located(string line, int row, int column)
    {
        using var ws = new ManifestWorkspace("m.pt");
        ws.ExpectSingle(Head + "\n      " + line, DiagnosticCodes.InvalidValue, row, column);
    }

    [Fact]
    public void Arguments_need_a_TorchScript_source()
    {
        using var ws = new ManifestWorkspace("m.onnx");
        ws.ExpectSingle(Head.Replace("m.pt", "m.onnx") + "\n      arguments: { use_dropout: true }", DiagnosticCodes.InvalidValue, 7, 18);
    }

    [Fact]
    public void Torchscript_export_of_a_TorchSharp_source_is_refused()
    {
        using var ws = new ManifestWorkspace("bin/My.dll", "net.dat");
        var d = ws.ExpectSingle(Head.Replace("source: m.pt", "source: { torchsharp: { assembly: bin/My.dll, type: My.Net, weights: net.dat } }")
            + " { torchscript: true }", DiagnosticCodes.InvalidValue, 6, 28);
        Assert.Contains("TorchSharp", d.Message);
    }
}

/// <summary>deploy.triton.platform: pytorch needs the re-saved TorchScript of the base export.</summary>
public sealed class TritonPlatformKeyTests
{
    private const string Model = """
        schema: 1
        models:
          - name: m
            source: m.pt
            inputs: [ { name: x, shape: [batch, 4] } ]
            export: { torchscript: true }
            deploy:
              triton: { platform: pytorch }
        """;

    [Fact]
    public void Pytorch_platform_binds()
    {
        using var ws = new ManifestWorkspace("m.pt");
        var triton = ws.Parse(Model)!.Models[0].Deploy.Triton!;
        Assert.Equal(TritonBackendKind.PyTorch, triton.Platform);
        using var ws2 = new ManifestWorkspace("m.pt");
        Assert.Equal(TritonBackendKind.OnnxRuntime,
            ws2.Parse(Model.Replace("platform: pytorch", "platform: onnxruntime"))!.Models[0].Deploy.Triton!.Platform);
    }

    [Theory]
    [InlineData("export: { torchscript: true }", "export: { torchscript: false }", "export.torchscript")]
    [InlineData("    deploy:", "    deploy:\n      docker: server", "docker: server")]
    [InlineData("source: m.pt", "source: m.onnx", "TorchScript")]
    public void Pytorch_platform_without_what_it_serves_is_located(string from, string to, string message)
    {
        using var ws = new ManifestWorkspace("m.pt", "m.onnx");
        var yaml = Model.Replace(from, to);
        var line = yaml.Split('\n').ToList().FindIndex(l => l.Contains("platform:")) + 1;
        if (from == "source: m.pt")
        {
            // An ONNX source can't export TorchScript either, so that is reported at the same place too.
            yaml = yaml.Replace("    export: { torchscript: true }\n", "");
            line = yaml.Split('\n').ToList().FindIndex(l => l.Contains("platform:")) + 1;
            Assert.Null(ws.Parse(yaml));
            Assert.Contains(ws.Diagnostics, e => e.Code == DiagnosticCodes.InvalidValue && e.Location!.Line == line && e.Location.Column == 27 && e.Message.Contains(message));
            return;
        }
        var d = ws.ExpectSingle(yaml, DiagnosticCodes.InvalidValue, line, 27);
        Assert.Contains(message, d.Message);
    }
}
