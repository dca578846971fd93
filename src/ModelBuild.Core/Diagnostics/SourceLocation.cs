namespace ModelBuild.Diagnostics;

/// <summary>A position in a file, 1-based, as MSBuild and IDEs expect it.</summary>
public sealed record SourceLocation(string File, int Line = 0, int Column = 0)
{
    public override string ToString() =>
        Line > 0 ? $"{File}({Line},{Column})" : File;
}
