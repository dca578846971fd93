namespace ModelBuild.Diagnostics;

/// <summary>Stops the current step with a diagnostic the user can act on.</summary>
public sealed class ModelBuildException : Exception
{
    public ModelBuildException(Diagnostic diagnostic, Exception? inner = null)
        : base(diagnostic.Message, inner) => Diagnostic = diagnostic;

    public ModelBuildException(string code, string message, SourceLocation? location = null, Exception? inner = null)
        : this(Diagnostic.Error(code, message, location), inner) { }

    public Diagnostic Diagnostic { get; }
}
