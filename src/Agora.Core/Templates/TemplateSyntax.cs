namespace Agora.Templates;

// The parsed template: expression and statement nodes, each remembering its line for error messages.

internal abstract record Expr(int Line);
internal sealed record ConstExpr(object? Value, int Line) : Expr(Line);
internal sealed record NameExpr(string Name, int Line) : Expr(Line);
internal sealed record ListExpr(Expr[] Items, int Line) : Expr(Line);
internal sealed record TupleExpr(Expr[] Items, int Line) : Expr(Line);
internal sealed record DictExpr((Expr Key, Expr Value)[] Pairs, int Line) : Expr(Line);
internal sealed record GetAttrExpr(Expr Target, string Attribute, int Line) : Expr(Line);
internal sealed record GetItemExpr(Expr Target, Expr Key, int Line) : Expr(Line);
internal sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);
internal sealed record CallExpr(Expr Target, Arguments Args, int Line) : Expr(Line);
/// <summary>A filter application; <see cref="Operand"/> is null inside filter blocks and block sets, where the body is the input.</summary>
internal sealed record FilterExpr(Expr? Operand, string Name, Arguments Args, int Line) : Expr(Line);
internal sealed record TestExpr(Expr Operand, string Name, Arguments Args, int Line) : Expr(Line);
internal sealed record UnaryExpr(string Op, Expr Operand, int Line) : Expr(Line);
internal sealed record NotExpr(Expr Operand, int Line) : Expr(Line);
internal sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line) : Expr(Line);
internal sealed record AndExpr(Expr Left, Expr Right, int Line) : Expr(Line);
internal sealed record OrExpr(Expr Left, Expr Right, int Line) : Expr(Line);
internal sealed record ConcatExpr(Expr[] Parts, int Line) : Expr(Line);
internal sealed record CompareExpr(Expr First, (string Op, Expr Operand)[] Rest, int Line) : Expr(Line);
internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else, int Line) : Expr(Line);

internal sealed record Arguments(Expr[] Positional, (string Name, Expr Value)[] Keywords, Expr? Star, Expr? DoubleStar)
{
    public static readonly Arguments None = new([], [], null, null);
}

/// <summary>What a set or for statement assigns to.</summary>
internal abstract record Target(int Line);
internal sealed record NameTarget(string Name, int Line) : Target(Line);
internal sealed record TupleTarget(Target[] Items, int Line) : Target(Line);
internal sealed record NamespaceTarget(string Name, string Attribute, int Line) : Target(Line);

internal abstract record Stmt(int Line);
internal sealed record TextStmt(string Text, int Line) : Stmt(Line);
internal sealed record PrintStmt(Expr Value, int Line) : Stmt(Line);
internal sealed record IfStmt((Expr Test, Stmt[] Body)[] Branches, Stmt[] Else, int Line) : Stmt(Line);
internal sealed record ForStmt(Target Target, Expr Iterable, Expr? Filter, Stmt[] Body, Stmt[] Else, int Line) : Stmt(Line);
internal sealed record SetStmt(Target Target, Expr Value, int Line) : Stmt(Line);
internal sealed record SetBlockStmt(Target Target, FilterExpr? Filter, Stmt[] Body, int Line) : Stmt(Line);
/// <summary>A macro; it accepts extra positional/keyword arguments only when its body mentions varargs/kwargs, as in Jinja.</summary>
internal sealed record MacroStmt(string Name, string[] Parameters, Expr[] Defaults, Stmt[] Body, bool CatchVarargs, bool CatchKwargs, int Line) : Stmt(Line);
internal sealed record CallBlockStmt(CallExpr Call, string[] Parameters, Expr[] Defaults, Stmt[] Body, bool CatchVarargs, bool CatchKwargs, int Line) : Stmt(Line);
internal sealed record FilterBlockStmt(FilterExpr Filter, Stmt[] Body, int Line) : Stmt(Line);
internal sealed record WithStmt((Target Target, Expr Value)[] Assignments, Stmt[] Body, int Line) : Stmt(Line);
/// <summary>transformers' {% generation %}: renders its body (it only marks assistant spans for masks).</summary>
internal sealed record GenerationStmt(Stmt[] Body, int Line) : Stmt(Line);
internal sealed record BreakStmt(int Line) : Stmt(Line);
internal sealed record ContinueStmt(int Line) : Stmt(Line);
