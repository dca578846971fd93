namespace ModelBuild.Diagnostics;

/// <summary>
/// One message for the user. <see cref="ToString"/> renders the canonical MSBuild format
/// (<c>path(line,col): error MB1234: message</c>) so MSBuild, IDEs and CI annotate the right line.
/// </summary>
public sealed record Diagnostic(string Code, Severity Severity, string Message, SourceLocation? Location = null)
{
    public static Diagnostic Error(string code, string message, SourceLocation? location = null) =>
        new(code, Severity.Error, message, location);

    public static Diagnostic Warning(string code, string message, SourceLocation? location = null) =>
        new(code, Severity.Warning, message, location);

    /// <summary>The exit-code class this diagnostic belongs to, taken from its code (see <see cref="DiagnosticCodes"/>).</summary>
    public ExitCode ExitCode => ExitCodes.Of(Code);

    public override string ToString()
    {
        var origin = Location?.ToString() ?? "modelbuild";
        var kind = Severity switch { Severity.Error => "error", Severity.Warning => "warning", _ => "info" };
        // Messages are single-line in the canonical format; keep extra lines indented so they stay readable.
        var message = Message.Replace("\r\n", "\n").Replace("\n", " ");
        return $"{origin}: {kind} {Code}: {message}";
    }
}
