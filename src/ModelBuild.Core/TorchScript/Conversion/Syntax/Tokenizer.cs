using System.Globalization;
using System.Text;

namespace ModelBuild.TorchScript.Conversion.Syntax;

/// <summary>
/// Splits TorchScript source (the Python subset torch.jit.save writes) into tokens, turning indentation into
/// Indent/Dedent tokens the way Python does; newlines inside brackets join lines.
/// </summary>
public static class Tokenizer
{
    private static readonly string[] Operators =
    [
        "**", "//", "==", "!=", "<=", ">=", "->", "<<", ">>", "+=", "-=", "*=", "/=",
        "(", ")", "[", "]", "{", "}", ",", ":", ".", "=", "<", ">", "+", "-", "*", "/", "%", "@", "&", "|", "^", "~",
    ];

    public static List<Token> Tokenize(string source, string file)
    {
        var tokens = new List<Token>();
        var indents = new Stack<int>();
        indents.Push(0);
        var depth = 0;
        var lines = source.Replace("\r\n", "\n").Split('\n');
        for (var li = 0; li < lines.Length; li++)
        {
            var line = lines[li];
            var lineNo = li + 1;
            var i = 0;
            if (depth == 0)
            {
                var col = 0;
                while (i < line.Length && (line[i] == ' ' || line[i] == '\t')) { col += line[i] == '\t' ? 8 - col % 8 : 1; i++; }
                if (i >= line.Length || line[i] == '#') continue; // blank or comment-only line
                if (col > indents.Peek()) { indents.Push(col); tokens.Add(new Token(TokenKind.Indent, "", lineNo)); }
                while (col < indents.Peek())
                {
                    indents.Pop();
                    tokens.Add(new Token(TokenKind.Dedent, "", lineNo));
                    if (col > indents.Peek()) throw Error(file, lineNo, "inconsistent indentation");
                }
            }
            while (i < line.Length)
            {
                var c = line[i];
                if (c == ' ' || c == '\t') { i++; continue; }
                if (c == '#') break;
                if (char.IsLetter(c) || c == '_')
                {
                    var start = i;
                    while (i < line.Length && (char.IsLetterOrDigit(line[i]) || line[i] == '_')) i++;
                    tokens.Add(new Token(TokenKind.Name, line[start..i], lineNo));
                    continue;
                }
                if (char.IsDigit(c) || (c == '.' && i + 1 < line.Length && char.IsDigit(line[i + 1])))
                {
                    tokens.Add(ReadNumber(line, ref i, lineNo));
                    continue;
                }
                if (c == '"' || c == '\'')
                {
                    tokens.Add(new Token(TokenKind.String, ReadString(line, ref i, file, lineNo), lineNo));
                    continue;
                }
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(line, i, o, 0, o.Length) == 0)
                    ?? throw Error(file, lineNo, $"unexpected character '{c}'");
                if (op is "(" or "[" or "{") depth++;
                if (op is ")" or "]" or "}") depth = Math.Max(0, depth - 1);
                tokens.Add(new Token(TokenKind.Op, op, lineNo));
                i += op.Length;
            }
            if (depth == 0 && tokens.Count > 0 && tokens[^1].Kind != TokenKind.Newline)
                tokens.Add(new Token(TokenKind.Newline, "", lineNo));
        }
        var last = lines.Length;
        while (indents.Count > 1) { indents.Pop(); tokens.Add(new Token(TokenKind.Dedent, "", last)); }
        tokens.Add(new Token(TokenKind.End, "", last));
        return tokens;
    }

    private static Token ReadNumber(string line, ref int i, int lineNo)
    {
        var start = i;
        var isFloat = false;
        while (i < line.Length && char.IsDigit(line[i])) i++;
        if (i < line.Length && line[i] == '.') { isFloat = true; i++; while (i < line.Length && char.IsDigit(line[i])) i++; }
        if (i < line.Length && (line[i] == 'e' || line[i] == 'E'))
        {
            isFloat = true;
            i++;
            if (i < line.Length && (line[i] == '+' || line[i] == '-')) i++;
            while (i < line.Length && char.IsDigit(line[i])) i++;
        }
        return new Token(isFloat ? TokenKind.Float : TokenKind.Int, line[start..i], lineNo);
    }

    private static string ReadString(string line, ref int i, string file, int lineNo)
    {
        var quote = line[i++];
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= line.Length) throw Error(file, lineNo, "unterminated string");
            var c = line[i++];
            if (c == quote) return sb.ToString();
            if (c != '\\') { sb.Append(c); continue; }
            if (i >= line.Length) throw Error(file, lineNo, "unterminated string");
            var e = line[i++];
            sb.Append(e switch { 'n' => '\n', 't' => '\t', 'r' => '\r', '0' => '\0', _ => e });
        }
    }

    internal static TorchScriptSyntaxException Error(string file, int line, string message) => new(file, line, message);
}

/// <summary>Source the converter cannot parse; the converter turns it into a diagnostic naming file and line.</summary>
public sealed class TorchScriptSyntaxException(string file, int line, string message)
    : Exception($"{message} (code/{file}, line {line})")
{
    public string File { get; } = file;
    public int Line { get; } = line;
    public string Reason { get; } = message;
}

internal static class NumberText
{
    public static object Parse(Token t) => t.Kind == TokenKind.Int
        ? (object)long.Parse(t.Text, CultureInfo.InvariantCulture)
        : double.Parse(t.Text, CultureInfo.InvariantCulture);
}
