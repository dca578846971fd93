namespace ModelBuild.Diagnostics;

/// <summary>Process exit codes, fixed by the v1 contract.</summary>
public enum ExitCode
{
    Success = 0,
    CheckFailed = 1,
    BadInput = 2,
    InternalError = 3,
}

public static class ExitCodes
{
    /// <summary>The exit code a diagnostic's class fixes (see <see cref="DiagnosticCodes"/>).</summary>
    public static ExitCode Of(string code) =>
        code.Length >= 3 && code.StartsWith("MB", StringComparison.Ordinal)
            ? code[2] switch
            {
                '1' or '2' => ExitCode.BadInput,
                '3' => ExitCode.CheckFailed,
                _ => ExitCode.InternalError,
            }
            : ExitCode.InternalError;
}
