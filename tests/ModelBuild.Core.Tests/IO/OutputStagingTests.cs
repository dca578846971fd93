using ModelBuild.IO;

namespace ModelBuild.Core.Tests.IO;

public sealed class OutputStagingTests : IDisposable
{
    private readonly string _out = Directory.CreateTempSubdirectory("mb-staging-").FullName;

    public void Dispose() => Directory.Delete(_out, recursive: true);

    [Fact]
    public void Leftovers_of_dead_runs_are_removed_and_those_of_live_ones_kept()
    {
        var state = Path.Combine(_out, OutputStaging.StateFolder);
        const int dead = int.MaxValue; // no process has this id
        var deadStaging = Directory.CreateDirectory(Path.Combine(state, $"staging-{dead}-{Guid.NewGuid():N}", "models", "m")).Parent!.Parent!.FullName;
        File.WriteAllText(Path.Combine(deadStaging, "models", "m", "model.onnx"), "half");
        var liveStaging = Directory.CreateDirectory(Path.Combine(state, $"staging-{Environment.ProcessId}-{Guid.NewGuid():N}")).FullName;
        var deadTemp = Path.Combine(state, $".outputs.txt.{dead}.{Guid.NewGuid():N}.mbtmp");
        var liveTemp = Path.Combine(state, $".outputs.txt.{Environment.ProcessId}.{Guid.NewGuid():N}.mbtmp");
        File.WriteAllText(deadTemp, "x");
        File.WriteAllText(liveTemp, "x");
        File.WriteAllText(Path.Combine(state, OutputStaging.OutputsListFile), "models/m/model.onnx\n");

        using (var staging = new OutputStaging(_out))
        {
            Assert.False(Directory.Exists(deadStaging));
            Assert.False(File.Exists(deadTemp));
            Assert.True(Directory.Exists(liveStaging));
            Assert.True(File.Exists(liveTemp));
            Assert.True(File.Exists(Path.Combine(state, OutputStaging.OutputsListFile)));
        }
    }
}
