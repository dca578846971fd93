using ModelBuild.Core.Tests.Pipeline;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Onnx;

/// <summary>Model paths that are not plain files end in an MB diagnostic, never an internal error or an endless read.</summary>
public sealed class OnnxModelFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mb-onnxfile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_link_to_an_endless_device_is_refused_as_empty_without_reading_it()
    {
        var link = Path.Combine(_dir, "zero.onnx");
        File.CreateSymbolicLink(link, "/dev/zero");
        var error = Assert.Throws<ModelBuildException>(() => OnnxModelFile.Load(link));
        Assert.Equal(DiagnosticCodes.ModelUnreadable, error.Diagnostic.Code);
        Assert.Contains("not a regular file", error.Message);
    }

    [Fact]
    public void A_symbolic_link_loop_is_a_diagnostic_not_an_internal_error()
    {
        var link = Path.Combine(_dir, "loop.onnx");
        File.CreateSymbolicLink(link, link);
        var error = Assert.Throws<ModelBuildException>(() => OnnxModelFile.Load(link));
        Assert.Contains(error.Diagnostic.Code, new[] { DiagnosticCodes.FileNotFound, DiagnosticCodes.ModelUnreadable });
    }

    [Fact]
    public void A_model_read_through_a_link_is_the_model()
    {
        var model = Path.Combine(PipelineWorkspace.RepoRoot, "testassets", "SampleApp", "models", "fashion.onnx");
        var link = Path.Combine(_dir, "linked.onnx");
        File.CreateSymbolicLink(link, model);
        Assert.Equal(OnnxModelFile.Load(model).Graph.Node.Count, OnnxModelFile.Load(link).Graph.Node.Count);
    }
}
