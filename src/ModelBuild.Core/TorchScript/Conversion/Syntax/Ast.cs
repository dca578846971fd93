namespace ModelBuild.TorchScript.Conversion.Syntax;

// The syntax tree of the TorchScript source subset. Every node keeps its line so errors can point at it.

public abstract record Expr(int Line);
public sealed record NameExpr(string Name, int Line) : Expr(Line);
/// <summary>A literal: long, double, bool, string or null (None).</summary>
public sealed record ConstExpr(object? Value, int Line) : Expr(Line);
public sealed record AttrExpr(Expr Target, string Name, int Line) : Expr(Line);
public sealed record CallExpr(Expr Func, IReadOnlyList<Expr> Args, IReadOnlyList<KeywordArg> Kwargs, int Line) : Expr(Line);
public sealed record KeywordArg(string Name, Expr Value);
public sealed record SubscriptExpr(Expr Target, Expr Index, int Line) : Expr(Line);
public sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);
public sealed record ListExpr(IReadOnlyList<Expr> Items, int Line) : Expr(Line);
public sealed record TupleExpr(IReadOnlyList<Expr> Items, int Line) : Expr(Line);
public sealed record DictExpr(IReadOnlyList<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);
public sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line) : Expr(Line);
public sealed record UnaryExpr(string Op, Expr Operand, int Line) : Expr(Line);
public sealed record TernaryExpr(Expr Condition, Expr Then, Expr Else, int Line) : Expr(Line);

public abstract record Stmt(int Line);
/// <summary><c>a = v</c>, <c>a, b, = v</c> (Targets has several), or <c>x.attr = v</c>.</summary>
public sealed record AssignStmt(IReadOnlyList<Expr> Targets, bool Unpack, Expr Value, int Line) : Stmt(Line);
public sealed record ExprStmt(Expr Value, int Line) : Stmt(Line);
public sealed record ReturnStmt(Expr? Value, int Line) : Stmt(Line);
public sealed record IfStmt(Expr Condition, IReadOnlyList<Stmt> Then, IReadOnlyList<Stmt> Else, int Line) : Stmt(Line);
public sealed record ForStmt(IReadOnlyList<string> Targets, Expr Iterable, IReadOnlyList<Stmt> Body, int Line) : Stmt(Line);
public sealed record WhileStmt(Expr Condition, IReadOnlyList<Stmt> Body, int Line) : Stmt(Line);
public sealed record PassStmt(int Line) : Stmt(Line);
public sealed record BreakStmt(int Line) : Stmt(Line);
public sealed record ContinueStmt(int Line) : Stmt(Line);
public sealed record RaiseStmt(Expr? Value, int Line) : Stmt(Line);
public sealed record AssertStmt(Expr Condition, Expr? Message, int Line) : Stmt(Line);

public sealed record Parameter(string Name, Expr? Type, Expr? Default);

public sealed record FunctionDef(string Name, IReadOnlyList<Parameter> Parameters, IReadOnlyList<Stmt> Body, string File, int Line);

/// <summary>A class in a code file: its methods, its class-level constants (<c>in_features : Final[int] = 12</c>) and,
/// for a NamedTuple, its fields in order.</summary>
public sealed record ClassDef(string Name, IReadOnlyDictionary<string, FunctionDef> Methods, IReadOnlyDictionary<string, Expr> Constants,
    IReadOnlyList<string> Fields, int Line);

/// <summary>One parsed code file: its classes and free functions.</summary>
public sealed record CodeFile(string Path, IReadOnlyDictionary<string, ClassDef> Classes, IReadOnlyDictionary<string, FunctionDef> Functions);
