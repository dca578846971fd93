using ModelBuild.Diagnostics;

namespace ModelBuild.Data;

/// <summary>
/// The readers report a damaged data file at the file itself, which has no line an IDE or CI can annotate. In a build
/// the problem belongs at the manifest key that names the file; the message already names the file (and for a CSV,
/// its line), so only the location moves.
/// </summary>
public static class DataFileErrors
{
    public static T At<T>(SourceLocation manifestKey, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (ModelBuildException e) when (IsAtDataFile(e))
        {
            throw Relocated(e, manifestKey);
        }
    }

    /// <summary>A data error located at a file rather than at a line of the manifest.</summary>
    public static bool IsAtDataFile(ModelBuildException e) =>
        e.Diagnostic.Code is DiagnosticCodes.DataUnreadable or DiagnosticCodes.DataMismatch && e.Diagnostic.Location is { Line: 0 };

    public static ModelBuildException Relocated(ModelBuildException e, SourceLocation manifestKey) =>
        new(e.Diagnostic with { Location = manifestKey }, e);
}
