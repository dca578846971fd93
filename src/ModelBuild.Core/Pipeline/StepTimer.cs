using System.Diagnostics;

namespace ModelBuild.Pipeline;

/// <summary>Times named steps, logs each as it ends (what `-v:n` shows), and keeps the totals for the report.</summary>
public sealed class StepTimer(IBuildLog log)
{
    private readonly Dictionary<string, double> _totals = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, double> TotalsMs => _totals;

    public T Time<T>(string step, Func<T> body)
    {
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
