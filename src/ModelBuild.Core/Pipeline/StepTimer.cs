using System.Diagnostics;
using ModelBuild.Diagnostics;

namespace ModelBuild.Pipeline;

/// <summary>
/// Times named steps, logs each as it starts and ends (what `-v:n` shows), and keeps the totals for the report.
/// The start line (asked for by the MSBuild task) lets it name the step when the tool dies without a word (a native crash).
/// </summary>
public sealed class StepTimer(IBuildLog log, CancellationToken cancellation = default, bool logStarts = false)
{
    /// <summary>Printed when a step starts; ModelBuildTask parses it, so keep the two in step.</summary>
    public const string StartPrefix = "modelbuild: step started: ";

    private readonly Dictionary<string, double> _totals = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, double> TotalsMs => _totals;

    public T Time<T>(string step, Func<T> body)
    {
        // Every step boundary is a cancellation point, so Ctrl-C never waits for more than one step.
        cancellation.ThrowIfCancellationRequested();
        if (logStarts) log.Info(StartPrefix + step);
        var start = Stopwatch.GetTimestamp();
        try
        {
            return body();
        }
        finally
        {
            var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            _totals[step] = _totals.GetValueOrDefault(step) + ms;
            log.Info($"modelbuild: {step} ({ms:F0} ms)");
        }
    }

    public void Time(string step, Action body) => Time(step, () => { body(); return 0; });
}
