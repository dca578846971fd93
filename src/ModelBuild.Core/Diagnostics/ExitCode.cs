namespace ModelBuild.Diagnostics;

/// <summary>Process exit codes, fixed by the v1 contract.</summary>
public enum ExitCode
{
    Success = 0,
    CheckFailed = 1,
    BadInput = 2,
    InternalError = 3,
}
