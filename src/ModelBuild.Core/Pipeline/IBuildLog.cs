namespace ModelBuild.Pipeline;

/// <summary>Where progress lines go: the console for the CLI (and, through it, MSBuild's log at normal verbosity).</summary>
public interface IBuildLog
{
    void Info(string message);
}

public sealed class ConsoleBuildLog(TextWriter writer) : IBuildLog
{
    public void Info(string message)
    {
        lock (writer) writer.WriteLine(message);
    }
}

public sealed class NullBuildLog : IBuildLog
{
    public void Info(string message) { }
}
