namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// A dynamic size divided by a known number with Python's true division (<c>B = int(windows.shape[0] / (H * W /
/// ws / ws))</c> in Swin's window_reverse): a float known only at run time. <c>int()</c> turns it back into a size
/// by floor division when the divisor is a whole number (sizes are non-negative, so truncation is floor); any other
/// use is refused.
/// </summary>
public sealed record SymRatio(SymInt Numerator, double Divisor)
{
    public override string ToString() => $"{Numerator} / {Divisor}";
}
