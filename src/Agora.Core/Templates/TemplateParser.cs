using System.Runtime.CompilerServices;

namespace Agora.Templates;

/// <summary>Jinja2's grammar and operator precedence, producing <see cref="Stmt"/> trees.</summary>
internal sealed class TemplateParser
{
    const int MaxNesting = 200;

    readonly List<Token> tokens;
    readonly string origin;
    int p;
    int nesting;
    int loopDepth;
    readonly Stack<string> openBlocks = new();
    readonly List<string[]> endTokenStack = new();
    // Names read inside the macro bodies being parsed (Jinja decides from them whether a macro takes varargs/kwargs).
    readonly Stack<HashSet<string>> macroNames = new();

    TemplateParser(List<Token> tokens, string origin)
    {
        this.tokens = tokens;
        this.origin = origin;
    }

    public static Stmt[] Parse(string source, string origin)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source, origin), origin);
        var body = parser.Subparse(null);
        if (parser.Current.Kind != TokenKind.Eof) throw parser.Fail($"unexpected '{parser.Current.Describe()}'");
        return body;
    }

    Token Current => tokens[p];
    Token Peek => tokens[Math.Min(p + 1, tokens.Count - 1)];
    Token Next() => tokens[p < tokens.Count - 1 ? p++ : p];

    TemplateException Fail(string message, int? line = null) => TemplateException.Syntax(message, origin, line ?? Current.Line);

    Token Expect(TokenKind kind, string? text = null)
    {
        var t = Current;
        if (t.Kind == kind && (text is null || t.Text == text)) return Next();
        if (t.Kind == TokenKind.Eof)
            throw Fail($"unexpected end of template, expected '{text ?? Describe(kind)}'.");
        throw Fail($"expected token '{text ?? Describe(kind)}', got '{t.Describe()}'");
    }

    static string Describe(TokenKind kind) => kind switch
    {
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.Name => "name",
        _ => kind.ToString().ToLowerInvariant(),
    };

    bool SkipOp(string op)
    {
        if (!Current.IsOp(op)) return false;
        Next();
        return true;
    }

    bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        Next();
        return true;
    }

    void Enter()
    {
        if (++nesting > MaxNesting || !RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw Fail("the template is nested too deeply");
    }

    // ---- statements ----

    Stmt[] Subparse(string[]? endTokens)
    {
        Enter();
        var body = new List<Stmt>();
        while (Current.Kind != TokenKind.Eof)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.Data:
                    Next();
                    body.Add(new TextStmt(t.Text, t.Line));
                    break;
                case TokenKind.VariableBegin:
                    Next();
                    body.Add(new PrintStmt(ParseTuple(), t.Line));
                    Expect(TokenKind.VariableEnd);
                    break;
                case TokenKind.BlockBegin:
                    Next();
                    if (endTokens != null && Current.Kind == TokenKind.Name && endTokens.Contains(Current.Text))
                    {
                        nesting--;
                        return body.ToArray();
                    }
                    body.Add(ParseStatement());
                    Expect(TokenKind.BlockEnd);
                    break;
                default:
                    throw Fail($"unexpected '{t.Describe()}'");
            }
        }
        nesting--;
        return body.ToArray();
    }

    Stmt[] ParseStatements(string[] endTokens, bool dropNeedle)
    {
        SkipOp(":");
        Expect(TokenKind.BlockEnd);
        endTokenStack.Add(endTokens);
        var body = Subparse(endTokens);
        if (Current.Kind == TokenKind.Eof) throw Fail(UnknownTagMessage(null));
        endTokenStack.RemoveAt(endTokenStack.Count - 1);
        if (dropNeedle) Next();
        return body;
    }

    Stmt ParseStatement()
    {
        var t = Current;
        if (t.Kind != TokenKind.Name) throw Fail("tag name expected");
        openBlocks.Push(t.Text);
        Stmt result = t.Text switch
        {
            "for" => ParseFor(),
            "if" => ParseIf(),
            "set" => ParseSet(),
            "macro" => ParseMacro(),
            "call" => ParseCallBlock(),
            "filter" => ParseFilterBlock(),
            "with" => ParseWith(),
            "generation" => ParseGeneration(),
            "break" or "continue" => ParseLoopControl(),
            _ => null!,
        };
        if (result is null)
        {
            openBlocks.Pop();
            throw Fail(UnknownTagMessage(t.Text));
        }
        openBlocks.Pop();
        return result;
    }

    // Jinja's wording for an unknown tag (name) or an unexpected end of template (null).
    string UnknownTagMessage(string? name)
    {
        var message = name is null ? "Unexpected end of template." : $"Encountered unknown tag '{name}'.";
        if (endTokenStack.Count > 0)
        {
            var looking = string.Join(" or ", endTokenStack[^1].Select(e => $"'{e}'"));
            message += name != null && endTokenStack.Any(tokens => tokens.Contains(name))
                ? $" You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for {looking}."
                : $" Jinja was looking for the following tags: {looking}.";
        }
        if (openBlocks.Count > 0) message += $" The innermost block that needs to be closed is '{openBlocks.Peek()}'.";
        return message;
    }

    Stmt ParseFor()
    {
        var line = Next().Line;
        var target = ParseAssignTarget(["in"], withNamespace: false);
        Expect(TokenKind.Name, "in");
        var iterable = ParseTuple(withCondExpr: false, extraEnd: ["recursive"]);
        Expr? filter = null;
        if (SkipName("if")) filter = ParseExpression();
        if (Current.IsName("recursive")) throw Fail("recursive loops are not supported");
        loopDepth++;
        var body = ParseStatements(["endfor", "else"], dropNeedle: false);
        loopDepth--;
        var elseBody = Next().Text == "endfor" ? [] : ParseStatements(["endfor"], dropNeedle: true);
        return new ForStmt(target, iterable, filter, body, elseBody, line);
    }

    Stmt ParseIf()
    {
        var line = Next().Line;
        var branches = new List<(Expr, Stmt[])>();
        Stmt[] elseBody = [];
        while (true)
        {
            var test = ParseTuple(withCondExpr: false);
            var body = ParseStatements(["elif", "else", "endif"], dropNeedle: false);
            branches.Add((test, body));
            var token = Next();
            if (token.Text == "elif") continue;
            if (token.Text == "else") elseBody = ParseStatements(["endif"], dropNeedle: true);
            break;
        }
        return new IfStmt(branches.ToArray(), elseBody, line);
    }

    Stmt ParseSet()
    {
        var line = Next().Line;
        var target = ParseAssignTarget(null, withNamespace: true);
        if (SkipOp("=")) return new SetStmt(target, ParseTuple(), line);
        var filter = Current.IsOp("|") ? ParseFilter(null, startInline: false) : null;
        var body = ParseStatements(["endset"], dropNeedle: true);
        return new SetBlockStmt(target, filter, body, line);
    }

    Stmt ParseMacro()
    {
        var line = Next().Line;
        var name = Expect(TokenKind.Name).Text;
        var (parameters, defaults) = ParseSignature();
        var (body, names) = ParseMacroBody("endmacro");
        return new MacroStmt(name, parameters, defaults, body, names.Contains("varargs"), names.Contains("kwargs"), line);
    }

    (string[], Expr[]) ParseSignature()
    {
        var parameters = new List<string>();
        var defaults = new List<Expr>();
        Expect(TokenKind.Operator, "(");
        while (!Current.IsOp(")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Operator, ",");
            var name = Expect(TokenKind.Name);
            if (name.Text is "true" or "false" or "True" or "False" or "none" or "None")
                throw Fail("can't assign to 'const'", name.Line);
            if (SkipOp("=")) defaults.Add(ParseExpression());
            else if (defaults.Count > 0) throw Fail("non-default argument follows default argument");
            parameters.Add(name.Text);
        }
        Expect(TokenKind.Operator, ")");
        return (parameters.ToArray(), defaults.ToArray());
    }

    Stmt ParseCallBlock()
    {
        var line = Next().Line;
        var (parameters, defaults) = Current.IsOp("(") ? ParseSignature() : ([], []);
        if (ParseExpression() is not CallExpr call) throw Fail("expected call", line);
        var (body, names) = ParseMacroBody("endcall");
        return new CallBlockStmt(call, parameters, defaults, body, names.Contains("varargs"), names.Contains("kwargs"), line);
    }

    (Stmt[], HashSet<string>) ParseMacroBody(string end)
    {
        var outerLoops = loopDepth;
        loopDepth = 0;
        var names = new HashSet<string>();
        macroNames.Push(names);
        var body = ParseStatements([end], dropNeedle: true);
        macroNames.Pop();
        foreach (var outer in macroNames) outer.UnionWith(names);
        loopDepth = outerLoops;
        return (body, names);
    }

    Stmt ParseFilterBlock()
    {
        var line = Next().Line;
        var filter = ParseFilter(null, startInline: true)!;
        var body = ParseStatements(["endfilter"], dropNeedle: true);
        return new FilterBlockStmt(filter, body, line);
    }

    Stmt ParseWith()
    {
        var line = Next().Line;
        var assignments = new List<(Target, Expr)>();
        while (Current.Kind != TokenKind.BlockEnd)
        {
            if (assignments.Count > 0) Expect(TokenKind.Operator, ",");
            var target = ParseAssignTarget(null, withNamespace: false);
            Expect(TokenKind.Operator, "=");
            assignments.Add((target, ParseExpression()));
        }
        return new WithStmt(assignments.ToArray(), ParseStatements(["endwith"], dropNeedle: true), line);
    }

    Stmt ParseGeneration()
    {
        var line = Next().Line;
        return new GenerationStmt(ParseStatements(["endgeneration"], dropNeedle: true), line);
    }

    Stmt ParseLoopControl()
    {
        var token = Next();
        if (loopDepth == 0) throw Fail($"'{token.Text}' outside loop", token.Line);
        return token.Text == "break" ? new BreakStmt(token.Line) : new ContinueStmt(token.Line);
    }

    Target ParseAssignTarget(string[]? extraEnd, bool withNamespace)
    {
        var line = Current.Line;
        var items = new List<Target>();
        var isTuple = false;
        while (true)
        {
            if (items.Count > 0) Expect(TokenKind.Operator, ",");
            if (IsTupleEnd(extraEnd)) break;
            items.Add(ParseTargetPrimary(withNamespace));
            if (Current.IsOp(",")) isTuple = true;
            else break;
        }
        if (!isTuple)
        {
            if (items.Count == 0) throw Fail($"Expected an expression, got '{Current.Describe()}'");
            return items[0];
        }
        if (items.Any(i => i is NamespaceTarget)) throw Fail("can't assign to 'tuple'", line);
        return new TupleTarget(items.ToArray(), line);
    }

    Target ParseTargetPrimary(bool withNamespace)
    {
        var t = Current;
        if (t.Kind == TokenKind.Name)
        {
            Next();
            if (t.Text is "true" or "false" or "True" or "False" or "none" or "None") throw Fail("can't assign to 'const'", t.Line);
            if (withNamespace && Current.IsOp("."))
            {
                Next();
                return new NamespaceTarget(t.Text, Expect(TokenKind.Name).Text, t.Line);
            }
            return new NameTarget(t.Text, t.Line);
        }
        if (t.IsOp("("))
        {
            Next();
            var inner = ParseAssignTarget(null, withNamespace: false);
            Expect(TokenKind.Operator, ")");
            return inner;
        }
        throw Fail(t.Kind == TokenKind.Eof ? "unexpected end of template" : $"can't assign to '{t.Describe()}'");
    }

    // ---- expressions ----

    bool IsTupleEnd(string[]? extraEnd) =>
        Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.Eof || Current.IsOp(")")
        || (extraEnd != null && Current.Kind == TokenKind.Name && extraEnd.Contains(Current.Text));

    Expr ParseTuple(bool withCondExpr = true, string[]? extraEnd = null, bool explicitParentheses = false)
    {
        var line = Current.Line;
        var items = new List<Expr>();
        var isTuple = false;
        while (true)
        {
            if (items.Count > 0) Expect(TokenKind.Operator, ",");
            if (IsTupleEnd(extraEnd)) break;
            items.Add(withCondExpr ? ParseExpression() : ParseOr());
            if (Current.IsOp(",")) isTuple = true;
            else break;
        }
        if (!isTuple)
        {
            if (items.Count > 0) return items[0];
            if (!explicitParentheses) throw Fail($"Expected an expression, got '{Current.Describe()}'");
        }
        return new TupleExpr(items.ToArray(), line);
    }

    Expr ParseExpression()
    {
        Enter();
        var line = Current.Line;
        var expr = ParseOr();
        while (SkipName("if"))
        {
            var test = ParseOr();
            var otherwise = SkipName("else") ? ParseExpression() : null;
            expr = new CondExpr(test, expr, otherwise, line);
            line = Current.Line;
        }
        nesting--;
        return expr;
    }

    Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or")) { var line = Next().Line; left = new OrExpr(left, ParseAnd(), line); }
        return left;
    }

    Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and")) { var line = Next().Line; left = new AndExpr(left, ParseNot(), line); }
        return left;
    }

    Expr ParseNot()
    {
        if (!Current.IsName("not")) return ParseCompare();
        Enter();
        var line = Next().Line;
        var result = new NotExpr(ParseNot(), line);
        nesting--;
        return result;
    }

    static readonly string[] CompareOps = ["==", "!=", "<", "<=", ">", ">="];

    Expr ParseCompare()
    {
        var line = Current.Line;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && CompareOps.Contains(Current.Text)) rest.Add((Next().Text, ParseMath1()));
            else if (SkipName("in")) rest.Add(("in", ParseMath1()));
            else if (Current.IsName("not") && Peek.IsName("in")) { Next(); Next(); rest.Add(("notin", ParseMath1())); }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first, rest.ToArray(), line);
    }

    Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.IsOp("+") || Current.IsOp("-")) { var t = Next(); left = new BinaryExpr(t.Text, left, ParseConcat(), t.Line); }
        return left;
    }

    Expr ParseConcat()
    {
        var line = Current.Line;
        var first = ParseMath2();
        if (!Current.IsOp("~")) return first;
        var parts = new List<Expr> { first };
        while (SkipOp("~")) parts.Add(ParseMath2());
        return new ConcatExpr(parts.ToArray(), line);
    }

    Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            var t = Next();
            left = new BinaryExpr(t.Text, left, ParsePow(), t.Line);
        }
        return left;
    }

    Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOp("**")) { var t = Next(); left = new BinaryExpr("**", left, ParseUnary(withFilter: true), t.Line); }
        return left;
    }

    Expr ParseUnary(bool withFilter)
    {
        Enter();
        var t = Current;
        Expr node;
        if (t.IsOp("-") || t.IsOp("+"))
        {
            Next();
            node = new UnaryExpr(t.Text, ParseUnary(withFilter: false), t.Line);
        }
        else node = ParsePrimary();
        node = ParsePostfix(node);
        if (withFilter) node = ParseFilterExpr(node);
        nesting--;
        return node;
    }

    Expr ParsePrimary()
    {
        var t = Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                Next();
                return t.Text switch
                {
                    "true" or "True" => new ConstExpr(true, t.Line),
                    "false" or "False" => new ConstExpr(false, t.Line),
                    "none" or "None" => new ConstExpr(null, t.Line),
                    _ => Name(t),
                };
            case TokenKind.String:
                Next();
                var text = (string)t.Literal!;
                while (Current.Kind == TokenKind.String) text += (string)Next().Literal!;
                return new ConstExpr(text, t.Line);
            case TokenKind.Integer:
            case TokenKind.Float:
                Next();
                return new ConstExpr(t.Literal, t.Line);
            case TokenKind.Operator when t.Text == "(":
                Next();
                var inner = ParseTuple(explicitParentheses: true);
                Expect(TokenKind.Operator, ")");
                return inner;
            case TokenKind.Operator when t.Text == "[":
                return ParseList();
            case TokenKind.Operator when t.Text == "{":
                return ParseDict();
        }
        if (t.Kind == TokenKind.Eof) throw Fail("unexpected end of template");
        throw Fail($"unexpected '{t.Describe()}'");
    }

    NameExpr Name(Token t)
    {
        if (macroNames.Count > 0) macroNames.Peek().Add(t.Text);
        return new NameExpr(t.Text, t.Line);
    }

    Expr ParseList()
    {
        var line = Next().Line;
        var items = new List<Expr>();
        while (!Current.IsOp("]"))
        {
            if (items.Count > 0) Expect(TokenKind.Operator, ",");
            if (Current.IsOp("]")) break;
            items.Add(ParseExpression());
        }
        Expect(TokenKind.Operator, "]");
        return new ListExpr(items.ToArray(), line);
    }

    Expr ParseDict()
    {
        var line = Next().Line;
        var pairs = new List<(Expr, Expr)>();
        while (!Current.IsOp("}"))
        {
            if (pairs.Count > 0) Expect(TokenKind.Operator, ",");
            if (Current.IsOp("}")) break;
            var key = ParseExpression();
            Expect(TokenKind.Operator, ":");
            pairs.Add((key, ParseExpression()));
        }
        Expect(TokenKind.Operator, "}");
        return new DictExpr(pairs.ToArray(), line);
    }

    Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (Current.IsOp(".") || Current.IsOp("[")) node = ParseSubscript(node);
            else if (Current.IsOp("(")) node = ParseCall(node);
            else return node;
        }
    }

    Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (Current.IsOp("|")) node = ParseFilter(node, startInline: false)!;
            else if (Current.IsName("is")) node = ParseTest(node);
            else if (Current.IsOp("(")) node = ParseCall(node);
            else return node;
        }
    }

    Expr ParseSubscript(Expr node)
    {
        var t = Next();
        if (t.Text == ".")
        {
            var attr = Next();
            if (attr.Kind == TokenKind.Name) return new GetAttrExpr(node, attr.Text, t.Line);
            if (attr.Kind != TokenKind.Integer) throw Fail("expected name or number", attr.Line);
            return new GetItemExpr(node, new ConstExpr(attr.Literal, attr.Line), t.Line);
        }
        var args = new List<Expr>();
        while (!Current.IsOp("]"))
        {
            if (args.Count > 0) Expect(TokenKind.Operator, ",");
            args.Add(ParseSubscribed());
        }
        Expect(TokenKind.Operator, "]");
        if (args.Count == 0) throw Fail("expected subscript expression", t.Line);
        return new GetItemExpr(node, args.Count == 1 ? args[0] : new TupleExpr(args.ToArray(), t.Line), t.Line);
    }

    Expr ParseSubscribed()
    {
        var line = Current.Line;
        Expr? start = null;
        if (!Current.IsOp(":"))
        {
            var node = ParseExpression();
            if (!Current.IsOp(":")) return node;
            start = node;
        }
        Next();
        Expr? stop = null, step = null;
        if (!Current.IsOp(":") && !Current.IsOp("]") && !Current.IsOp(",")) stop = ParseExpression();
        if (SkipOp(":") && !Current.IsOp("]") && !Current.IsOp(",")) step = ParseExpression();
        return new SliceExpr(start, stop, step, line);
    }

    Arguments ParseCallArgs()
    {
        var open = Expect(TokenKind.Operator, "(");
        var positional = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        Expr? star = null, doubleStar = null;
        var requireComma = false;
        void Ensure(bool ok)
        {
            if (!ok) throw Fail("invalid syntax for function call expression", open.Line);
        }
        while (!Current.IsOp(")"))
        {
            if (requireComma)
            {
                Expect(TokenKind.Operator, ",");
                if (Current.IsOp(")")) break;
            }
            if (Current.IsOp("*"))
            {
                Ensure(star == null && doubleStar == null);
                Next();
                star = ParseExpression();
            }
            else if (Current.IsOp("**"))
            {
                Ensure(doubleStar == null);
                Next();
                doubleStar = ParseExpression();
            }
            else if (Current.Kind == TokenKind.Name && Peek.IsOp("="))
            {
                Ensure(doubleStar == null);
                var key = Next().Text;
                Next();
                keywords.Add((key, ParseExpression()));
            }
            else
            {
                Ensure(star == null && doubleStar == null && keywords.Count == 0);
                positional.Add(ParseExpression());
            }
            requireComma = true;
        }
        Expect(TokenKind.Operator, ")");
        return new Arguments(positional.ToArray(), keywords.ToArray(), star, doubleStar);
    }

    Expr ParseCall(Expr node)
    {
        var line = Current.Line;
        return new CallExpr(node, ParseCallArgs(), line);
    }

    FilterExpr? ParseFilter(Expr? node, bool startInline)
    {
        FilterExpr? result = null;
        while (Current.IsOp("|") || startInline)
        {
            if (!startInline) Next();
            var t = Expect(TokenKind.Name);
            var name = t.Text;
            while (SkipOp(".")) name += "." + Expect(TokenKind.Name).Text;
            if (!TemplateRenderer.FilterNames.Contains(name)) throw Fail($"No filter named '{name}'.", t.Line);
            var args = Current.IsOp("(") ? ParseCallArgs() : Arguments.None;
            result = new FilterExpr(node, name, args, t.Line);
            node = result;
            startInline = false;
        }
        return result;
    }

    Expr ParseTest(Expr node)
    {
        var line = Next().Line;
        var negated = SkipName("not");
        var name = Expect(TokenKind.Name).Text;
        while (SkipOp(".")) name += "." + Expect(TokenKind.Name).Text;
        if (!TemplateRenderer.TestNames.Contains(name)) throw Fail($"No test named '{name}'.", line);
        Arguments args;
        if (Current.IsOp("(")) args = ParseCallArgs();
        else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                  || Current.IsOp("(") || Current.IsOp("[") || Current.IsOp("{"))
                 && !Current.IsName("else") && !Current.IsName("or") && !Current.IsName("and"))
        {
            if (Current.IsName("is")) throw Fail("You cannot chain multiple tests with is");
            args = new Arguments([ParsePostfix(ParsePrimary())], [], null, null);
        }
        else args = Arguments.None;
        Expr test = new TestExpr(node, name, args, line);
        return negated ? new NotExpr(test, line) : test;
    }
}
