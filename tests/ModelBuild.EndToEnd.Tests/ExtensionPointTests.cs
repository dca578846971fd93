namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// The hooks ModelBuild.targets offers a project (docs/msbuild.md): ModelBuildDependsOn runs the project's targets
/// before the tool, @(ModelBuildArtifact) after ModelBuildCollectArtifacts lists what the run wrote, and
/// -t:ModelBuild runs the pipeline without compiling the app.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class ExtensionPointTests(PackageFeedFixture feed)
{
    // The manifest names a model that only the project's own target creates (from the digits MLP ConsumerProject copies in).
    private const string Manifest = """
        schema: 1
        models:
          - name: digits
            source: models/generated.onnx
            variants:
              - name: int8
                quantize: { mode: dynamic }
        """;

    private const string Targets = """

          <PropertyGroup>
            <ModelBuildDependsOn>$(ModelBuildDependsOn);MakeModel</ModelBuildDependsOn>
          </PropertyGroup>
          <Target Name="MakeModel">
            <Copy SourceFiles="models/digits-mlp.onnx" DestinationFiles="models/generated.onnx" />
          </Target>
          <Target Name="ListArtifacts" AfterTargets="ModelBuildCollectArtifacts">
            <WriteLinesToFile File="$(MSBuildProjectDirectory)/artifacts.txt" Lines="@(ModelBuildArtifact->'%(RelativePath)|%(FullPath)')" Overwrite="true" />
          </Target>
        """;

    [Fact]
    public void Project_targets_run_before_the_tool_and_see_every_artifact_after_it()
    {
        using var project = new ConsumerProject(feed, Manifest, projectXml: Targets);

        var build = project.Dotnet("build");

        Assert.True(build.ExitCode == 0, build.ToString());
        var listed = File.ReadAllLines(Path.Combine(project.Directory, "artifacts.txt")).Select(l => l.Split('|')).ToList();
        var written = File.ReadAllLines(Path.Combine(project.IntermediateArtifacts, ".modelbuild", "outputs.txt"));
        Assert.Equal(written.Order(), listed.Select(l => l[0]).Order());
        Assert.Contains("models/digits/int8/model.onnx", written);
        // Each item is the file under the intermediate output, the same bytes the app's output received.
        foreach (var item in listed)
            Assert.Equal(File.ReadAllBytes(Path.Combine(project.OutputDirectory, item[0])), File.ReadAllBytes(item[1]));
    }

    [Fact]
    public void The_ModelBuild_target_runs_the_pipeline_without_compiling_the_app()
    {
        using var project = new ConsumerProject(feed, Manifest, projectXml: Targets);

        var run = project.Dotnet("msbuild", "-restore", "-t:ModelBuild");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.True(File.Exists(Path.Combine(project.IntermediateArtifacts, "models", "digits", "int8", "model.onnx")), run.ToString());
        Assert.False(File.Exists(Path.Combine(project.OutputDirectory, $"{project.Name}.dll")), "the app was compiled");
        Assert.Contains("models/digits/model.onnx|", File.ReadAllText(Path.Combine(project.Directory, "artifacts.txt")));
    }
}
