namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// A construct the converter cannot lower. The interpreter fills in the code/ file and line of the innermost
/// statement being run, and the converter turns it into an MB diagnostic.
/// </summary>
public sealed class ConversionError(string message, string? op = null) : Exception(message)
{
    public string? Op { get; } = op;
    public string? File { get; set; }
    public int Line { get; set; }
    public string Reason { get; } = message;

    public static ConversionError Unsupported(string op, string? detail = null) =>
        new($"unsupported TorchScript operation '{op}'" + (detail is null ? "" : $": {detail}"), op);
}
