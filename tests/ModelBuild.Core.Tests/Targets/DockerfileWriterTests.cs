using ModelBuild.Targets;
using static ModelBuild.Core.Tests.Targets.Samples;

namespace ModelBuild.Core.Tests.Targets;

public sealed class DockerfileWriterTests : IDisposable
{
    private readonly string _deploy = Directory.CreateTempSubdirectory("modelbuild-deploy-").FullName;

    public void Dispose() => Directory.Delete(_deploy, recursive: true);

    /// <summary>Writes the deploy folder the way the pipeline lays it out, with the given Dockerfile.</summary>
    private void WriteLayout(string dockerfile)
    {
        File.WriteAllText(Path.Combine(_deploy, TritonLayout.DockerfileName), dockerfile);
        File.WriteAllText(Path.Combine(_deploy, TritonLayout.DockerIgnoreName), DockerIgnoreWriter.WriteTriton());
        var config = Path.Combine(_deploy, TritonLayout.ConfigPath("fashion"));
        var model = Path.Combine(_deploy, TritonLayout.ModelPath("fashion", TritonPlatform.OnnxRuntime));
        Directory.CreateDirectory(Path.GetDirectoryName(model)!);
        File.WriteAllText(config, TritonConfigWriter.Write("fashion", Cnn(), Spec(8), TritonPlatform.OnnxRuntime));
        File.WriteAllBytes(model, [0x08, 0x08]);
        File.WriteAllText(Path.Combine(_deploy, "kserve.yaml"), "kind: InferenceService\n");
    }

    [Fact]
    public void Generated_dockerfile_passes_the_lint_in_the_output_layout()
    {
        var dockerfile = DockerfileWriter.WriteTriton();
        WriteLayout(dockerfile);

        Assert.Empty(DockerfileLint.Check(dockerfile, _deploy, [8000, 8001, 8002]));
    }

    [Fact]
    public void Base_image_is_the_pinned_triton_release()
    {
        var from = DockerfileLint.Parse(DockerfileWriter.WriteTriton()).First();

        Assert.Equal("FROM", from.Keyword);
        Assert.Equal("nvcr.io/nvidia/tritonserver:24.08-py3", from.Arguments);
        Assert.Equal($"{TritonImage.Repository}:{TritonImage.DefaultTag}-py3", from.Arguments);
    }

    [Fact]
    public void Image_tag_can_be_chosen_but_not_left_floating()
    {
        var from = DockerfileLint.Parse(DockerfileWriter.WriteTriton("25.01")).First();
        Assert.Equal("nvcr.io/nvidia/tritonserver:25.01-py3", from.Arguments);
        Assert.Throws<ArgumentException>(() => DockerfileWriter.WriteTriton("latest"));
        Assert.Throws<ArgumentException>(() => DockerfileWriter.WriteTriton(""));
        Assert.Throws<ArgumentException>(() => DockerfileWriter.WriteTriton("24.08 AS evil"));
    }

    [Fact]
    public void Server_serves_the_copied_repository_and_checks_readiness()
    {
        var ins = DockerfileLint.Parse(DockerfileWriter.WriteTriton());

        var copy = Assert.Single(ins, i => i.Keyword == "COPY");
        Assert.Equal($"{TritonLayout.RepositoryFolder} {DockerfileWriter.ModelRepositoryPath}", copy.Arguments);
        var cmd = Assert.Single(ins, i => i.Keyword == "CMD");
        Assert.Equal("[\"tritonserver\", \"--model-repository=/models\"]", cmd.Arguments);
        var health = Assert.Single(ins, i => i.Keyword == "HEALTHCHECK");
        Assert.Contains("curl -fsS http://localhost:8000/v2/health/ready", health.Arguments);
        Assert.Equal("8000 8001 8002", Assert.Single(ins, i => i.Keyword == "EXPOSE").Arguments);
    }

    [Fact]
    public void Server_dockerfile_passes_the_lint_pinned_non_root_with_health_check()
    {
        var dockerfile = DockerfileWriter.WriteServer("0.1.0");
        WriteLayout(dockerfile);
        Assert.Empty(DockerfileLint.Check(dockerfile, _deploy, [DockerfileWriter.ServerPort]));
        var ins = DockerfileLint.Parse(dockerfile);
        Assert.Equal(DockerfileWriter.AspNetImage, ins.Last(i => i.Keyword == "FROM").Arguments);
        Assert.Contains(ins, i => i.Keyword == "USER" && i.Arguments == "$APP_UID");
        Assert.Contains("\"--version\", \"0.1.0\"", ins.First(i => i.Keyword == "RUN").Arguments);
        Assert.Contains("/v2/health/ready", ins.Single(i => i.Keyword == "HEALTHCHECK").Arguments);
        Assert.Throws<ArgumentException>(() => DockerfileWriter.WriteServer("1.0 && rm -rf /"));
    }

    public static TheoryData<string, string, string> BrokenDockerfiles => new()
    {
        { "FROM nvcr.io/nvidia/tritonserver:24.08-py3", "FROM nvcr.io/nvidia/tritonserver:latest", "uses 'latest'" },
        { "FROM nvcr.io/nvidia/tritonserver:24.08-py3", "FROM nvcr.io/nvidia/tritonserver", "has no explicit tag" },
        { "FROM nvcr.io/nvidia/tritonserver:24.08-py3", "FROM nvcr.io/nvidia/tritonserver:${TAG}", "build arguments" },
        { "HEALTHCHECK --interval", "# HEALTHCHECK --interval", "no HEALTHCHECK" },
        { "EXPOSE 8000 8001 8002", "EXPOSE 8000", "port 8001 is not exposed" },
        { "COPY triton /models", "COPY models /models", "models does not exist" },
        { "COPY triton /models", "COPY kserve.yaml /models", "excluded by .dockerignore" },
        { "COPY triton /models", "COPY ../secrets /models", "outside the build context" },
        { "CMD [\"tritonserver\", \"--model-repository=/models\"]", "CMD tritonserver --model-repository=/models", "exec (JSON array) form" },
    };

    [Theory]
    [MemberData(nameof(BrokenDockerfiles))]
    public void Lint_catches_what_it_is_meant_to(string original, string replacement, string expected)
    {
        var good = DockerfileWriter.WriteTriton();
        Assert.Contains(original, good);
        var broken = good.Replace(original, replacement);
        WriteLayout(broken);

        var problems = DockerfileLint.Check(broken, _deploy, [8000, 8001, 8002]);

        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Dockerignore_keeps_only_the_model_repository()
    {
        var patterns = DockerIgnoreWriter.WriteTriton().Split('\n')
            .Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

        Assert.False(DockerfileLint.IsIgnored(patterns, "triton"));
        Assert.False(DockerfileLint.IsIgnored(patterns, "triton/fashion/1/model.onnx"));
        Assert.True(DockerfileLint.IsIgnored(patterns, "kserve.yaml"));
        Assert.True(DockerfileLint.IsIgnored(patterns, "scratch/tmp.bin"));
    }

    [Fact]
    public void Docker_files_are_deterministic_text()
    {
        Assert.Equal(DockerfileWriter.WriteTriton(), DockerfileWriter.WriteTriton());
        Assert.Equal(DockerIgnoreWriter.WriteTriton(), DockerIgnoreWriter.WriteTriton());
        foreach (var text in new[] { DockerfileWriter.WriteTriton(), DockerIgnoreWriter.WriteTriton() })
        {
            Assert.DoesNotContain('\r', text);
            Assert.EndsWith("\n", text);
        }
    }
}
