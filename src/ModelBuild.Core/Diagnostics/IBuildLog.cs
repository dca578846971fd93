namespace ModelBuild.Diagnostics;

/// <summary>Where progress lines go: the console for the CLI (and, through it, MSBuild's log at normal verbosity).</summary>
public interface IBuildLog
{
    void Info(string message);

    /// <summary>
    /// A long step (evaluation, calibration) with <paramref name="total"/> units of work. Plain logs ignore it:
    /// the step's line comes from the pipeline's step timer when it ends. The CLI draws a bar on a terminal.
    /// </summary>
    IStepProgress BeginProgress(string step, int total) => NullStepProgress.Instance;
}

/// <summary>Progress of one long step; disposing it ends the step.</summary>
public interface IStepProgress : IDisposable
{
    void Report(int done);
}

public sealed class NullStepProgress : IStepProgress
{
    public static readonly NullStepProgress Instance = new();
    public void Report(int done) { }
    public void Dispose() { }
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
