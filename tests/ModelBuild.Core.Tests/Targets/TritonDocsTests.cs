using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Targets;
using static ModelBuild.Core.Tests.Targets.Samples;

namespace ModelBuild.Core.Tests.Targets;

public class TritonDocsTests
{
    [Fact]
    public void Example_config_in_the_guide_is_what_the_writer_produces()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ModelBuild.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var guide = File.ReadAllText(Path.Combine(dir.FullName, "docs", "deploy-triton.md")).ReplaceLineEndings("\n");
        var start = guide.IndexOf("```\nname: \"fashion\"", StringComparison.Ordinal) + 4;
        var example = guide[start..(guide.IndexOf("```", start, StringComparison.Ordinal))];

        var model = new ModelInterface(
            [T("input", TensorElementType.Float32, Dyn("batch"), D(1), D(28), D(28))],
            [T("logits", TensorElementType.Float32, Dyn("batch"), D(10))]);
        var spec = Spec(8, new DynamicBatchingSpec { MaxQueueDelayUs = 100 }, new InstanceGroupSpec(InstanceKind.Cpu, 2));

        Assert.Equal(example, TritonConfigWriter.Write("fashion", model, spec, TritonPlatform.OnnxRuntime));
    }
}
