using Spectre.Console;
using ModelBuild.Diagnostics;

namespace ModelBuild.Tool.Commands;

/// <summary>
/// Progress bars for long steps (evaluation, calibration) on an interactive terminal. Step lines still print
/// (above the bars); diagnostics stay canonical on stderr. Used only when <see cref="ShouldUse"/> says so.
/// </summary>
internal sealed class ProgressBuildLog(ProgressContext context) : IBuildLog
{
    /// <summary>
    /// Bars only for a person at a terminal: stdout not redirected (MSBuild redirects it), CI unset, TERM not dumb.
    /// </summary>
    public static bool ShouldUse(bool quiet) =>
        !quiet
        && !Console.IsOutputRedirected
        && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"))
        && Environment.GetEnvironmentVariable("TERM") != "dumb";

    /// <summary>Runs <paramref name="body"/> with bars drawn while it works; the bars stay on screen afterwards.</summary>
    public static T Run<T>(Func<IBuildLog, T> body)
    {
        var result = default(T)!;
        AnsiConsole.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => result = body(new ProgressBuildLog(ctx)));
        return result;
    }

    public void Info(string message) => AnsiConsole.WriteLine(message);

    public IStepProgress BeginProgress(string step, int total) =>
        new Bar(context.AddTask(Markup.Escape(step), maxValue: Math.Max(1, total)));

    private sealed class Bar(ProgressTask task) : IStepProgress
    {
        public void Report(int done) => task.Value = Math.Min(done, task.MaxValue);

        public void Dispose()
        {
            task.Value = task.MaxValue;
            task.StopTask();
        }
    }
}
