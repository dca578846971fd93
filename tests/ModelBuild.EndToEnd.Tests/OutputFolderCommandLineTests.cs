namespace ModelBuild.EndToEnd.Tests;

/// <summary>`modelbuild build --out` pointed at the wrong place: bad input (exit 2) with a diagnostic, never a crash or lost files.</summary>
public sealed class OutputFolderCommandLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("modelbuild-cli-out-").FullName;

    private ProcessResult Modelbuild(params string[] args) => ProcessRunner.Dotnet(_dir, [RepoPaths.ToolAssembly, .. args]);

    [Fact]
    public void An_existing_file_as_the_output_folder_exits_2_without_a_stack_trace()
    {
        File.Copy(RepoPaths.Asset("digits-mlp.onnx"), Path.Combine(_dir, "digits.onnx"));
        File.WriteAllText(Path.Combine(_dir, "deploy.yaml"), "schema: 1\nmodels:\n  - name: digits\n    source: digits.onnx\n");
        File.WriteAllText(Path.Combine(_dir, "afile"), "mine");

        var result = Modelbuild("build", "deploy.yaml", "--out", "afile", "-q");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error MB2040", result.Output);
        Assert.DoesNotContain("MB9001", result.Output);
        Assert.DoesNotContain("   at ", result.Output);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(_dir, "afile")));
    }

    [Fact]
    public void Building_into_the_project_folder_over_the_source_is_refused_at_the_source_line()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "models", "digits"));
        var source = Path.Combine(_dir, "models", "digits", "model.onnx");
        File.Copy(RepoPaths.Asset("digits-mlp.onnx"), source);
        var original = File.ReadAllBytes(source);
        File.WriteAllText(Path.Combine(_dir, "deploy.yaml"), "schema: 1\nmodels:\n  - name: digits\n    source: models/digits/model.onnx\n");

        var result = Modelbuild("build", "deploy.yaml", "--out", ".", "-q");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("deploy.yaml(4,13): error MB2040", result.Output);
        Assert.Equal(original, File.ReadAllBytes(source));
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
