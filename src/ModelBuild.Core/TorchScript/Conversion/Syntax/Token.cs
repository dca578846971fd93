namespace ModelBuild.TorchScript.Conversion.Syntax;

public enum TokenKind { Name, Int, Float, String, Op, Newline, Indent, Dedent, End }

/// <summary>One lexical token of TorchScript source, with its 1-based line for error messages.</summary>
public readonly record struct Token(TokenKind Kind, string Text, int Line)
{
    public override string ToString() => Kind is TokenKind.Name or TokenKind.Op ? $"'{Text}'" : Kind.ToString();
}
