namespace ModelBuild.Diagnostics;

public enum Severity
{
    Info,
    Warning,
    Error,
}
