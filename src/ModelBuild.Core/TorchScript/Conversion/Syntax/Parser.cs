namespace ModelBuild.TorchScript.Conversion.Syntax;

/// <summary>
/// Recursive-descent parser for the TorchScript source subset in code/ files: classes, defs with annotated
/// parameters and defaults, assignments (with tuple unpacking), if/elif/else, for, while, return, and Python
/// expressions. Imports and other top-level statements are skipped.
/// </summary>
public sealed class Parser
{
    private readonly List<Token> _tokens;
    private readonly string _file;
    private int _pos;

    private Parser(List<Token> tokens, string file) { _tokens = tokens; _file = file; }

    public static CodeFile ParseFile(string source, string file)
    {
        var p = new Parser(Tokenizer.Tokenize(source, file), file);
        return p.File();
    }

    /// <summary>Parses one expression (for tests and for defaults written as text).</summary>
    public static Expr ParseExpression(string source, string file = "<expr>")
    {
        var p = new Parser(Tokenizer.Tokenize(source, file), file);
        var e = p.Expression();
        p.Skip(TokenKind.Newline);
        if (p.Peek.Kind != TokenKind.End) throw p.Error($"unexpected {p.Peek}");
        return e;
    }

    private Token Peek => _tokens[_pos];
    private Token PeekAt(int k) => _tokens[Math.Min(_pos + k, _tokens.Count - 1)];
    private Token Next() => _tokens[_pos++];
    private bool IsOp(string op) => Peek.Kind == TokenKind.Op && Peek.Text == op;
    private bool IsName(string name) => Peek.Kind == TokenKind.Name && Peek.Text == name;
    private void Skip(TokenKind kind) { while (Peek.Kind == kind) _pos++; }

    private bool TryOp(string op)
    {
        if (!IsOp(op)) return false;
        _pos++;
        return true;
    }

    private void ExpectOp(string op)
    {
        if (!TryOp(op)) throw Error($"expected '{op}' but found {Peek}");
    }

    private string ExpectName()
    {
        if (Peek.Kind != TokenKind.Name) throw Error($"expected a name but found {Peek}");
        return Next().Text;
    }

    private TorchScriptSyntaxException Error(string message) => new(_file, Peek.Line, message);

    private CodeFile File()
    {
        var classes = new Dictionary<string, ClassDef>(StringComparer.Ordinal);
        var functions = new Dictionary<string, FunctionDef>(StringComparer.Ordinal);
        while (Peek.Kind != TokenKind.End)
        {
            if (Peek.Kind is TokenKind.Newline or TokenKind.Dedent or TokenKind.Indent) { _pos++; continue; }
            if (IsName("class")) { var c = Class(); classes[c.Name] = c; }
            else if (IsName("def")) { var f = Def(); functions[f.Name] = f; }
            else SkipLine(); // imports, op_version_set = ..., and the like
        }
        return new CodeFile(_file, classes, functions);
    }

    private void SkipLine()
    {
        while (Peek.Kind is not (TokenKind.Newline or TokenKind.End)) _pos++;
        Skip(TokenKind.Newline);
    }

    private ClassDef Class()
    {
        var line = Next().Line;
        var name = ExpectName();
        var namedTuple = false;
        if (TryOp("(")) { while (!TryOp(")")) namedTuple |= Next().Text == "NamedTuple"; }
        ExpectOp(":");
        Skip(TokenKind.Newline);
        if (Peek.Kind != TokenKind.Indent) throw Error("expected an indented class body");
        _pos++;
        var methods = new Dictionary<string, FunctionDef>(StringComparer.Ordinal);
        var constants = new Dictionary<string, Expr>(StringComparer.Ordinal);
        var fields = new List<string>();
        while (Peek.Kind is not (TokenKind.Dedent or TokenKind.End))
        {
            if (Peek.Kind == TokenKind.Newline) { _pos++; continue; }
            if (IsName("def")) { var f = Def(); methods[f.Name] = f; continue; }
            // `name : Type = value` declares a class constant (Final); everything else is an annotation to skip.
            if (Peek.Kind == TokenKind.Name && PeekAt(1) is { Kind: TokenKind.Op, Text: ":" })
            {
                var attr = Next().Text;
                _pos++;
                Expression();
                if (TryOp("=")) constants[attr] = Expression();
                else if (namedTuple) fields.Add(attr);
                Skip(TokenKind.Newline);
                continue;
            }
            SkipLine();
        }
        if (Peek.Kind == TokenKind.Dedent) _pos++;
        return new ClassDef(name, methods, constants, fields, line);
    }

    private FunctionDef Def()
    {
        var line = Next().Line;
        var name = ExpectName();
        ExpectOp("(");
        var parameters = new List<Parameter>();
        while (!TryOp(")"))
        {
            var pname = ExpectName();
            Expr? type = null, dflt = null;
            if (TryOp(":")) type = Expression();
            if (TryOp("=")) dflt = Expression();
            parameters.Add(new Parameter(pname, type, dflt));
            if (!IsOp(")")) ExpectOp(",");
        }
        if (TryOp("->")) Expression();
        ExpectOp(":");
        var body = Block();
        return new FunctionDef(name, parameters, body, _file, line);
    }

    private List<Stmt> Block()
    {
        if (Peek.Kind != TokenKind.Newline)
        {
            // A one-line body: `if x: return y`.
            var single = new List<Stmt> { SimpleStatement() };
            return single;
        }
        Skip(TokenKind.Newline);
        if (Peek.Kind != TokenKind.Indent) throw Error("expected an indented block");
        _pos++;
        var stmts = new List<Stmt>();
        while (Peek.Kind is not (TokenKind.Dedent or TokenKind.End))
        {
            if (Peek.Kind == TokenKind.Newline) { _pos++; continue; }
            stmts.Add(Statement());
        }
        if (Peek.Kind == TokenKind.Dedent) _pos++;
        return stmts;
    }

    private Stmt Statement()
    {
        var line = Peek.Line;
        if (IsName("if")) { _pos++; return IfRest(line); }
        if (IsName("for"))
        {
            _pos++;
            var targets = new List<string> { ExpectName() };
            while (TryOp(",")) { if (Peek.Kind == TokenKind.Name && !IsName("in")) targets.Add(ExpectName()); }
            if (!IsName("in")) throw Error("expected 'in'");
            _pos++;
            var iter = Expression();
            ExpectOp(":");
            return new ForStmt(targets, iter, Block(), line);
        }
        if (IsName("while"))
        {
            _pos++;
            var cond = Expression();
            ExpectOp(":");
            return new WhileStmt(cond, Block(), line);
        }
        return SimpleStatement();
    }

    private Stmt IfRest(int line)
    {
        var cond = Expression();
        ExpectOp(":");
        var then = Block();
        IReadOnlyList<Stmt> otherwise = [];
        if (IsName("elif")) { var l = Next().Line; otherwise = [IfRest(l)]; }
        else if (IsName("else")) { _pos++; ExpectOp(":"); otherwise = Block(); }
        return new IfStmt(cond, then, otherwise, line);
    }

    private Stmt SimpleStatement()
    {
        var line = Peek.Line;
        Stmt stmt;
        if (IsName("return"))
        {
            _pos++;
            stmt = new ReturnStmt(Peek.Kind is TokenKind.Newline or TokenKind.End ? null : ExpressionList(), line);
        }
        else if (IsName("pass")) { _pos++; stmt = new PassStmt(line); }
        else if (IsName("break")) { _pos++; stmt = new BreakStmt(line); }
        else if (IsName("continue")) { _pos++; stmt = new ContinueStmt(line); }
        else if (IsName("raise")) { _pos++; stmt = new RaiseStmt(Peek.Kind is TokenKind.Newline ? null : Expression(), line); }
        else if (IsName("assert"))
        {
            _pos++;
            var cond = Expression();
            stmt = new AssertStmt(cond, TryOp(",") ? Expression() : null, line);
        }
        else
        {
            var first = Expression();
            // An annotated assignment, `targets1 : Optional[List[Tensor]] = targets` (the printer writes one where a
            // type is refined): the annotation only types the name. A bare annotation assigns nothing.
            var annotated = first is NameExpr && TryOp(":");
            if (annotated) Expression();
            var targets = new List<Expr> { first };
            var unpack = false;
            while (!annotated && TryOp(","))
            {
                unpack = true;
                if (IsOp("=")) break;
                targets.Add(Expression());
            }
            if (annotated && !IsOp("=")) stmt = new PassStmt(line);
            else if (TryOp("="))
                stmt = new AssignStmt(targets, unpack, ExpressionList(), line);
            else if (Peek.Kind == TokenKind.Op && Peek.Text is "+=" or "-=" or "*=" or "/=")
            {
                var op = Next().Text[..1];
                stmt = new AssignStmt(targets, false, new BinaryExpr(op, first, Expression(), line), line);
            }
            else if (unpack) stmt = new ExprStmt(new TupleExpr(targets, line), line);
            else stmt = new ExprStmt(first, line);
        }
        if (Peek.Kind == TokenKind.Newline) _pos++;
        else if (Peek.Kind is not (TokenKind.End or TokenKind.Dedent)) throw Error($"unexpected {Peek} after statement");
        return stmt;
    }

    /// <summary><c>a, b</c> without brackets is a tuple (return values, right-hand sides).</summary>
    private Expr ExpressionList()
    {
        var line = Peek.Line;
        var first = Expression();
        if (!IsOp(",")) return first;
        var items = new List<Expr> { first };
        while (TryOp(","))
        {
            if (Peek.Kind is TokenKind.Newline or TokenKind.End) break;
            items.Add(Expression());
        }
        return new TupleExpr(items, line);
    }

    public Expr Expression()
    {
        var e = Or();
        if (IsName("if"))
        {
            var line = Next().Line;
            var cond = Or();
            if (!IsName("else")) throw Error("expected 'else' in conditional expression");
            _pos++;
            return new TernaryExpr(cond, e, Expression(), line);
        }
        return e;
    }

    private Expr Or()
    {
        var e = And();
        while (IsName("or")) { var l = Next().Line; e = new BinaryExpr("or", e, And(), l); }
        return e;
    }

    private Expr And()
    {
        var e = Not();
        while (IsName("and")) { var l = Next().Line; e = new BinaryExpr("and", e, Not(), l); }
        return e;
    }

    private Expr Not()
    {
        if (IsName("not")) { var l = Next().Line; return new UnaryExpr("not", Not(), l); }
        return Comparison();
    }

    private Expr Comparison()
    {
        var e = Binary(0);
        while (true)
        {
            var line = Peek.Line;
            string? op = null;
            if (Peek.Kind == TokenKind.Op && Peek.Text is "==" or "!=" or "<" or ">" or "<=" or ">=") op = Next().Text;
            else if (IsName("is")) { _pos++; op = "is"; if (IsName("not")) { _pos++; op = "is not"; } }
            else if (IsName("in")) { _pos++; op = "in"; }
            else if (IsName("not") && PeekAt(1) is { Kind: TokenKind.Name, Text: "in" }) { _pos += 2; op = "not in"; }
            if (op is null) return e;
            e = new BinaryExpr(op, e, Binary(0), line);
        }
    }

    private static readonly string[][] Levels =
    [
        ["|"], ["^"], ["&"], ["<<", ">>"], ["+", "-"], ["*", "/", "//", "%", "@"],
    ];

    private Expr Binary(int level)
    {
        if (level == Levels.Length) return Unary();
        var e = Binary(level + 1);
        while (Peek.Kind == TokenKind.Op && Levels[level].Contains(Peek.Text))
        {
            var t = Next();
            e = new BinaryExpr(t.Text, e, Binary(level + 1), t.Line);
        }
        return e;
    }

    private Expr Unary()
    {
        if (Peek.Kind == TokenKind.Op && Peek.Text is "-" or "+" or "~")
        {
            var t = Next();
            var operand = Unary();
            // Fold negative literals so `-2.` is a constant, as the source means it.
            if (t.Text == "-" && operand is ConstExpr { Value: long l }) return new ConstExpr(-l, t.Line);
            if (t.Text == "-" && operand is ConstExpr { Value: double d }) return new ConstExpr(-d, t.Line);
            return t.Text == "+" ? operand : new UnaryExpr(t.Text, operand, t.Line);
        }
        return Power();
    }

    private Expr Power()
    {
        var e = Postfix();
        if (IsOp("**")) { var l = Next().Line; return new BinaryExpr("**", e, Unary(), l); }
        return e;
    }

    private Expr Postfix()
    {
        var e = Atom();
        while (true)
        {
            var line = Peek.Line;
            if (TryOp("."))
                e = new AttrExpr(e, ExpectName(), line);
            else if (TryOp("("))
            {
                var args = new List<Expr>();
                var kwargs = new List<KeywordArg>();
                while (!TryOp(")"))
                {
                    if (Peek.Kind == TokenKind.Name && PeekAt(1) is { Kind: TokenKind.Op, Text: "=" })
                    {
                        var name = Next().Text;
                        _pos++;
                        kwargs.Add(new KeywordArg(name, Expression()));
                    }
                    else
                    {
                        if (kwargs.Count > 0) throw Error("positional argument after keyword argument");
                        args.Add(Expression());
                    }
                    if (!IsOp(")")) ExpectOp(",");
                }
                e = new CallExpr(e, args, kwargs, line);
            }
            else if (TryOp("["))
            {
                var items = new List<Expr>();
                while (!TryOp("]"))
                {
                    items.Add(SliceOrExpression());
                    if (!IsOp("]")) ExpectOp(",");
                }
                e = new SubscriptExpr(e, items.Count == 1 ? items[0] : new TupleExpr(items, line), line);
            }
            else return e;
        }
    }

    private Expr SliceOrExpression()
    {
        var line = Peek.Line;
        Expr? start = IsOp(":") ? null : Expression();
        if (!TryOp(":")) return start!;
        Expr? stop = IsOp(":") || IsOp("]") || IsOp(",") ? null : Expression();
        Expr? step = null;
        if (TryOp(":") && !IsOp("]") && !IsOp(",")) step = Expression();
        return new SliceExpr(start, stop, step, line);
    }

    private Expr Atom()
    {
        var t = Peek;
        switch (t.Kind)
        {
            case TokenKind.Int:
            case TokenKind.Float:
                _pos++;
                return new ConstExpr(NumberText.Parse(t), t.Line);
            case TokenKind.String:
                _pos++;
                var s = t.Text;
                while (Peek.Kind == TokenKind.String) s += Next().Text;
                return new ConstExpr(s, t.Line);
            case TokenKind.Name:
                _pos++;
                return t.Text switch
                {
                    "True" => new ConstExpr(true, t.Line),
                    "False" => new ConstExpr(false, t.Line),
                    "None" => new ConstExpr(null, t.Line),
                    _ => new NameExpr(t.Text, t.Line),
                };
            case TokenKind.Op when t.Text == "(":
            {
                _pos++;
                if (TryOp(")")) return new TupleExpr([], t.Line);
                var first = Expression();
                if (TryOp(")")) return first;
                var items = new List<Expr> { first };
                while (TryOp(","))
                {
                    if (IsOp(")")) break;
                    items.Add(Expression());
                }
                ExpectOp(")");
                return new TupleExpr(items, t.Line);
            }
            case TokenKind.Op when t.Text == "[":
            {
                _pos++;
                var items = new List<Expr>();
                while (!TryOp("]"))
                {
                    items.Add(Expression());
                    if (!IsOp("]")) ExpectOp(",");
                }
                return new ListExpr(items, t.Line);
            }
            case TokenKind.Op when t.Text == "{":
            {
                _pos++;
                var items = new List<(Expr, Expr)>();
                while (!TryOp("}"))
                {
                    var k = Expression();
                    ExpectOp(":");
                    items.Add((k, Expression()));
                    if (!IsOp("}")) ExpectOp(",");
                }
                return new DictExpr(items, t.Line);
            }
            default:
                throw Error($"unexpected {t}");
        }
    }
}
