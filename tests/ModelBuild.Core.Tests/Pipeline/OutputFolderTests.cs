using ModelBuild.Diagnostics;

namespace ModelBuild.Core.Tests.Pipeline;

/// <summary>The output folder may hold the build's own inputs (<c>--out .</c>); a build must never destroy them.</summary>
public sealed class OutputFolderTests
{
    /// <summary>Moves the workspace's sample model to <paramref name="relative"/> (where an artifact would go); returns its full path.</summary>
    private static string MoveSampleModelTo(PipelineWorkspace ws, string relative)
    {
        var path = Path.Combine(ws.Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Move(Path.Combine(ws.Root, "models", "fashion.onnx"), path);
        return path;
    }

    [Fact]
    public void An_output_folder_whose_layout_lands_on_the_source_is_refused_and_the_source_kept()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion/model.onnx
            """);
        // models/fashion/model.onnx is exactly where the base export of model 'fashion' goes in the output folder.
        var source = MoveSampleModelTo(ws, "models/fashion/model.onnx");
        var original = File.ReadAllBytes(source);

        var report = ws.Build(outputDirectory: ws.Root);

        Assert.Null(report);
        var error = Assert.Single(ws.Diagnostics);
        Assert.Equal(DiagnosticCodes.OutputWriteFailed, error.Code);
        Assert.Equal(ExitCode.BadInput, ws.Diagnostics.ExitCode);
        Assert.Equal(ws.Find("models/fashion/model.onnx").Line, error.Location!.Line);
        Assert.Contains("models/fashion/model.onnx", error.Message);
        Assert.Equal(original, File.ReadAllBytes(source));
        Assert.False(File.Exists(Path.Combine(ws.Root, "modelbuild-report.json")));
    }

    [Fact]
    public void An_output_folder_reached_through_a_symbolic_link_is_seen_to_hold_the_source()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion/model.onnx
            """);
        var source = MoveSampleModelTo(ws, "models/fashion/model.onnx");
        var original = File.ReadAllBytes(source);
        var link = Path.Combine(ws.Root, "build");
        Directory.CreateSymbolicLink(link, ws.Root);

        Assert.Null(ws.Build(outputDirectory: link));

        Assert.Equal(DiagnosticCodes.OutputWriteFailed, Assert.Single(ws.Diagnostics).Code);
        Assert.Equal(original, File.ReadAllBytes(source));
    }

    [Fact]
    public void A_source_that_is_a_symbolic_link_loop_is_a_located_diagnostic_not_an_internal_error()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/loop.onnx
            """);
        var loop = Path.Combine(ws.Root, "models", "loop.onnx");
        File.CreateSymbolicLink(loop, loop);

        Assert.Null(ws.Build());

        var error = Assert.Single(ws.Diagnostics);
        Assert.NotEqual(DiagnosticCodes.Internal, error.Code);
        Assert.Equal(ExitCode.BadInput, ws.Diagnostics.ExitCode);
        Assert.Equal(ws.Find("models/loop.onnx").Line, error.Location!.Line);
    }

    [Fact]
    public void A_stale_output_that_is_now_an_input_is_not_deleted()
    {
        // An earlier build (of a version without the guard) wrote the base export of model 'digits' into the project
        // folder and listed it as its output; the user then pointed the source at it and renamed the model.
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: d2
                source: models/digits/model.onnx
            """);
        var source = MoveSampleModelTo(ws, "models/digits/model.onnx");
        var original = File.ReadAllBytes(source);
        Directory.CreateDirectory(Path.Combine(ws.Root, ".modelbuild"));
        File.WriteAllText(Path.Combine(ws.Root, ".modelbuild", "outputs.txt"), "models/digits/model.onnx\nmodelbuild-report.json\n");

        var report = ws.Build(outputDirectory: ws.Root);

        Assert.NotNull(report);
        Assert.Empty(ws.Diagnostics);
        Assert.Equal(original, File.ReadAllBytes(source));
        Assert.True(File.Exists(Path.Combine(ws.Root, "models", "d2", "model.onnx")));
        Assert.DoesNotContain("models/digits/model.onnx", File.ReadAllLines(Path.Combine(ws.Root, ".modelbuild", "outputs.txt")));
    }

    [Fact]
    public void An_output_path_that_is_an_existing_file_is_bad_input_not_a_crash()
    {
        using var ws = new PipelineWorkspace("""
            schema: 1
            models:
              - name: fashion
                source: models/fashion.onnx
            """);
        var file = Path.Combine(ws.Root, "afile");
        File.WriteAllText(file, "mine");

        var report = ws.Build(outputDirectory: file);

        Assert.Null(report);
        var error = Assert.Single(ws.Diagnostics);
        Assert.Equal(DiagnosticCodes.OutputWriteFailed, error.Code);
        Assert.Equal(ExitCode.BadInput, ws.Diagnostics.ExitCode);
        Assert.Contains("afile", error.Message);
        Assert.Equal("mine", File.ReadAllText(file));
    }
}
