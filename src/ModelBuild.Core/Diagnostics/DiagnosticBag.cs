using System.Collections;

namespace ModelBuild.Diagnostics;

/// <summary>Collects diagnostics so one run can report every problem it found, not just the first.</summary>
public sealed class DiagnosticBag : IEnumerable<Diagnostic>
{
    private readonly List<Diagnostic> _items = new();
    private readonly object _gate = new();

    public event Action<Diagnostic>? Reported;

    public void Add(Diagnostic diagnostic)
    {
        lock (_gate) _items.Add(diagnostic);
        Reported?.Invoke(diagnostic);
    }

    public void Error(string code, string message, SourceLocation? location = null) =>
        Add(Diagnostic.Error(code, message, location));

    public void Warning(string code, string message, SourceLocation? location = null) =>
        Add(Diagnostic.Warning(code, message, location));

    public bool HasErrors
    {
        get { lock (_gate) return _items.Any(d => d.Severity == Severity.Error); }
    }

    /// <summary>The worst exit code among the errors: internal beats bad input beats a failed check.</summary>
    public ExitCode ExitCode
    {
        get
        {
            lock (_gate)
            {
                return _items.Where(d => d.Severity == Severity.Error)
                    .Select(d => d.ExitCode)
                    .DefaultIfEmpty(ExitCode.Success)
                    .Max();
            }
        }
    }

    public IEnumerator<Diagnostic> GetEnumerator()
    {
        lock (_gate) return _items.ToList().GetEnumerator();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
