using System.Runtime.CompilerServices;
using System.Text;

namespace Agora.Templates;

/// <summary>Variables visible at one point of a render; lookups fall through to enclosing scopes.</summary>
internal sealed class Scope(Scope? parent)
{
    readonly Dictionary<string, object?> vars = new();
    public readonly Scope? Parent = parent;

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s != null; s = s.Parent)
            if (s.vars.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    public void Set(string name, object? value) => vars[name] = value;
}

/// <summary>The <c>loop</c> variable of a for loop.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items)
{
    public readonly IReadOnlyList<object?> Items = items;
    public int Index0;
    object? lastChanged = CallArguments.Missing;
    public int Index => Index0 + 1;
    public int Length => Items.Count;

    public object? Attribute(string name) => name switch
    {
        "index" => (long)Index,
        "index0" => (long)Index0,
        "revindex" => (long)(Length - Index0),
        "revindex0" => (long)(Length - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == Length - 1,
        "length" => (long)Length,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? Items[Index0 - 1] : Undefined.WithHint("there is no previous item"),
        "nextitem" => Index0 + 1 < Length ? Items[Index0 + 1] : Undefined.WithHint("there is no next item"),
        "cycle" => new BuiltinFunction("cycle", (_, a) =>
        {
            if (a.Positional.Count == 0) throw TemplateException.Type("no items for cycling given");
            return a.Positional[Index0 % a.Positional.Count];
        }),
        "changed" => new BuiltinFunction("changed", (_, a) =>
        {
            var value = new PyTuple(a.Positional.ToArray());
            if (!ReferenceEquals(lastChanged, CallArguments.Missing) && Py.Eq(lastChanged, value)) return false;
            lastChanged = value;
            return true;
        }),
        _ => Undefined.Member(this, name),
    };
}

/// <summary>A template macro (or the body of a call block, given to the macro as <c>caller</c>).</summary>
internal sealed class Macro(string name, string[] parameters, Expr[] defaults, Stmt[] body, bool catchVarargs, bool catchKwargs, Scope closure)
    : PyCallable
{
    public override string Name => name;

    public override object? Call(TemplateRenderer renderer, CallArguments args) => Invoke(renderer, args, null);

    public object? Invoke(TemplateRenderer renderer, CallArguments args, Macro? caller)
    {
        var scope = new Scope(closure);
        if (args.Positional.Count > parameters.Length && !catchVarargs)
            throw TemplateException.Type($"macro '{name}' takes not more than {parameters.Length} argument(s)");
        var given = new bool[parameters.Length];
        for (var i = 0; i < Math.Min(args.Positional.Count, parameters.Length); i++)
        {
            scope.Set(parameters[i], args.Positional[i]);
            given[i] = true;
        }
        var kwargs = new PyDict();
        foreach (var (key, value) in args.Keywords)
        {
            var at = Array.IndexOf(parameters, key);
            if (at >= 0 && !given[at]) { scope.Set(key, value); given[at] = true; }
            else if (catchKwargs) kwargs.Set(key, value);
            else throw TemplateException.Type($"macro '{name}' takes no keyword argument '{key}'");
        }
        var firstDefault = parameters.Length - defaults.Length;
        for (var i = 0; i < parameters.Length; i++)
        {
            if (given[i]) continue;
            scope.Set(parameters[i], i >= firstDefault
                ? renderer.Eval(defaults[i - firstDefault], scope)
                : Undefined.WithHint($"parameter '{parameters[i]}' was not provided"));
        }
        scope.Set("varargs", new PyTuple(args.Positional.Skip(parameters.Length).ToArray()));
        scope.Set("kwargs", kwargs);
        if (caller != null) scope.Set("caller", caller);
        return renderer.Capture(body, scope, macroCall: true);
    }
}

/// <summary>Walks the parsed template, writing output; every failure surfaces as a <see cref="TemplateException"/>.</summary>
internal sealed partial class TemplateRenderer
{
    const long MaxIterations = 5_000_000;
    const int MaxCallDepth = 500;

    enum Flow { Normal, Break, Continue }

    StringBuilder output = new();
    long iterations;
    int callDepth;
    public readonly Func<DateTime> Clock;

    TemplateRenderer(Func<DateTime> clock) => Clock = clock;

    public static string Render(Stmt[] body, Scope globals, Func<DateTime> clock)
    {
        var renderer = new TemplateRenderer(clock);
        try
        {
            renderer.ExecBlock(body, new Scope(globals));
            return renderer.output.ToString();
        }
        catch (TemplateException) { throw; }
        catch (InsufficientExecutionStackException) { throw new TemplateException("RecursionError", "maximum recursion depth exceeded"); }
        catch (OutOfMemoryException) { throw new TemplateException("MemoryError", "the template ran out of memory"); }
        catch (OverflowException) { throw new TemplateException("OverflowError", "integer result too large"); }
    }

    /// <summary>Runs statements into a fresh buffer and returns what they wrote.</summary>
    public string Capture(Stmt[] body, Scope scope, bool macroCall = false)
    {
        if (macroCall && ++callDepth > MaxCallDepth)
            throw new TemplateException("RecursionError", "maximum recursion depth exceeded");
        var saved = output;
        output = new StringBuilder();
        try
        {
            ExecBlock(body, scope);
            return output.ToString();
        }
        finally
        {
            output = saved;
            if (macroCall) callDepth--;
        }
    }

    void Write(string s)
    {
        Py.CheckLength((long)output.Length + s.Length);
        output.Append(s);
    }

    Flow ExecBlock(Stmt[] body, Scope scope)
    {
        foreach (var s in body)
        {
            var flow = Exec(s, scope);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    Flow Exec(Stmt stmt, Scope scope)
    {
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new TemplateException("RecursionError", "maximum recursion depth exceeded");
        try
        {
            switch (stmt)
            {
                case TextStmt t: Write(t.Text); return Flow.Normal;
                case PrintStmt p: Write(Py.Str(Eval(p.Value, scope))); return Flow.Normal;
                case IfStmt i:
                    foreach (var (test, body) in i.Branches)
                        if (Py.Truthy(Eval(test, scope))) return ExecBlock(body, scope);
                    return ExecBlock(i.Else, scope);
                case ForStmt f: ExecFor(f, scope); return Flow.Normal;
                case SetStmt s: Assign(s.Target, Eval(s.Value, scope), scope); return Flow.Normal;
                case SetBlockStmt sb:
                    object? captured = Capture(sb.Body, new Scope(scope));
                    if (sb.Filter != null) captured = ApplyFilterChain(sb.Filter, captured, scope);
                    Assign(sb.Target, captured, scope);
                    return Flow.Normal;
                case MacroStmt m:
                    scope.Set(m.Name, new Macro(m.Name, m.Parameters, m.Defaults, m.Body, m.CatchVarargs, m.CatchKwargs, scope));
                    return Flow.Normal;
                case CallBlockStmt cb:
                    var caller = new Macro("caller", cb.Parameters, cb.Defaults, cb.Body, cb.CatchVarargs, cb.CatchKwargs, scope);
                    var callee = Eval(cb.Call.Target, scope);
                    var args = EvalArguments(cb.Call.Args, scope);
                    if (callee is Undefined undefinedCallee) throw undefinedCallee.Fail();
                    if (callee is not Macro macro) throw TemplateException.Type($"'{Py.TypeName(callee)}' object is not callable with a call block");
                    Write(Py.Str(macro.Invoke(this, args, caller)));
                    return Flow.Normal;
                case FilterBlockStmt fb:
                    Write(Py.Str(ApplyFilterChain(fb.Filter, Capture(fb.Body, new Scope(scope)), scope)));
                    return Flow.Normal;
                case WithStmt w:
                    var inner = new Scope(scope);
                    foreach (var (target, value) in w.Assignments) Assign(target, Eval(value, scope), inner);
                    return ExecBlock(w.Body, inner);
                case GenerationStmt g: Write(Capture(g.Body, new Scope(scope))); return Flow.Normal;
                case BreakStmt: return Flow.Break;
                case ContinueStmt: return Flow.Continue;
                default: throw new InvalidOperationException(stmt.GetType().Name);
            }
        }
        catch (TemplateException e) when (e.Line == null)
        {
            e.Line = stmt.Line;
            throw;
        }
    }

    void ExecFor(ForStmt f, Scope scope)
    {
        var source = Eval(f.Iterable, scope);
        IReadOnlyList<object?> items = Py.Iterate(source);
        if (f.Filter != null)
        {
            var kept = new List<object?>();
            foreach (var item in items)
            {
                Tick();
                var probe = new Scope(scope);
                Assign(f.Target, item, probe);
                if (Py.Truthy(Eval(f.Filter, probe))) kept.Add(item);
            }
            items = kept;
        }
        if (items.Count == 0)
        {
            ExecBlock(f.Else, new Scope(scope));
            return;
        }
        var loop = new LoopContext(items);
        for (var i = 0; i < items.Count; i++)
        {
            Tick();
            loop.Index0 = i;
            // Each iteration starts from the enclosing scope: sets inside a loop body do not outlive the iteration.
            var body = new Scope(scope);
            body.Set("loop", loop);
            Assign(f.Target, items[i], body);
            if (ExecBlock(f.Body, body) == Flow.Break) break;
        }
    }

    void Tick()
    {
        if (++iterations > MaxIterations)
            throw new TemplateException("RuntimeError", $"the template ran more than {MaxIterations} loop iterations");
    }

    void Assign(Target target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameTarget n: scope.Set(n.Name, value); break;
            case NamespaceTarget ns:
                if (!scope.TryGet(ns.Name, out var obj) || obj is not Namespace space)
                    throw TemplateException.Runtime("cannot assign attribute on non-namespace object");
                space.Attributes[ns.Attribute] = value;
                break;
            case TupleTarget t:
                var items = Py.Iterate(value);
                if (items.Count < t.Items.Length)
                    throw TemplateException.Value($"not enough values to unpack (expected {t.Items.Length}, got {items.Count})");
                if (items.Count > t.Items.Length)
                    throw TemplateException.Value($"too many values to unpack (expected {t.Items.Length})");
                for (var i = 0; i < items.Count; i++) Assign(t.Items[i], items[i], scope);
                break;
        }
    }

    // ---- expressions ----

    public object? Eval(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case ConstExpr c: return c.Value;
            case NameExpr n: return scope.TryGet(n.Name, out var v) ? v : Undefined.Named(n.Name);
            case ListExpr l:
                var list = new List<object?>(l.Items.Length);
                foreach (var item in l.Items) list.Add(Eval(item, scope));
                return list;
            case TupleExpr t: return new PyTuple(t.Items.Select(i => Eval(i, scope)).ToArray());
            case DictExpr d:
                var dict = new PyDict();
                foreach (var (key, value) in d.Pairs) dict.Set(Eval(key, scope), Eval(value, scope));
                return dict;
            case GetAttrExpr ga: return GetAttr(Eval(ga.Target, scope), ga.Attribute);
            case GetItemExpr gi:
                var target = Eval(gi.Target, scope);
                if (gi.Key is SliceExpr slice)
                {
                    if (target is Undefined ut) throw ut.Fail();
                    return Slice(target, EvalOptional(slice.Start, scope), EvalOptional(slice.Stop, scope), EvalOptional(slice.Step, scope));
                }
                return GetItem(target, Eval(gi.Key, scope));
            case CallExpr call: return CallValue(Eval(call.Target, scope), EvalArguments(call.Args, scope));
            case FilterExpr f: return ApplyFilterChain(f, null, scope);
            case TestExpr t: return ApplyTest(t.Name, Eval(t.Operand, scope), EvalArguments(t.Args, scope));
            case UnaryExpr u: return Unary(u.Op, Eval(u.Operand, scope));
            case NotExpr n: return !Py.Truthy(Eval(n.Operand, scope));
            case BinaryExpr b: return Binary(b.Op, Eval(b.Left, scope), Eval(b.Right, scope));
            case AndExpr a:
                var left = Eval(a.Left, scope);
                return Py.Truthy(left) ? Eval(a.Right, scope) : left;
            case OrExpr o:
                var first = Eval(o.Left, scope);
                return Py.Truthy(first) ? first : Eval(o.Right, scope);
            case ConcatExpr c:
                var sb = new StringBuilder();
                foreach (var part in c.Parts)
                {
                    var s = Py.Str(Eval(part, scope));
                    Py.CheckLength((long)sb.Length + s.Length);
                    sb.Append(s);
                }
                return sb.ToString();
            case CompareExpr cmp:
                var current = Eval(cmp.First, scope);
                foreach (var (op, operandExpr) in cmp.Rest)
                {
                    var operand = Eval(operandExpr, scope);
                    var ok = op switch
                    {
                        "in" => Py.Contains(operand, current),
                        "notin" => !Py.Contains(operand, current),
                        _ => Py.CompareOp(op, current, operand),
                    };
                    if (!ok) return false;
                    current = operand;
                }
                return true;
            case CondExpr ce:
                if (Py.Truthy(Eval(ce.Test, scope))) return Eval(ce.Then, scope);
                return ce.Else != null
                    ? Eval(ce.Else, scope)
                    : Undefined.WithHint($"the inline if-expression on line {ce.Line} evaluated to false and no else section was defined.");
            case SliceExpr:
                throw TemplateException.Type("slices are only valid inside []");
            default: throw new InvalidOperationException(expr.GetType().Name);
        }
    }

    object? EvalOptional(Expr? expr, Scope scope) => expr == null ? null : Eval(expr, scope);

    public CallArguments EvalArguments(Arguments a, Scope scope)
    {
        if (a.Positional.Length == 0 && a.Keywords.Length == 0 && a.Star == null && a.DoubleStar == null) return CallArguments.Empty;
        var positional = new List<object?>(a.Positional.Length);
        foreach (var p in a.Positional) positional.Add(Eval(p, scope));
        var keywords = new List<KeyValuePair<string, object?>>(a.Keywords.Length);
        foreach (var (name, value) in a.Keywords) keywords.Add(new(name, Eval(value, scope)));
        if (a.Star != null) positional.AddRange(Py.Iterate(Eval(a.Star, scope)));
        if (a.DoubleStar != null)
        {
            if (Eval(a.DoubleStar, scope) is not PyDict d) throw TemplateException.Type("argument after ** must be a mapping");
            foreach (var (key, value) in d)
                keywords.Add(new(Py.AsString(key) ?? throw TemplateException.Type("keywords must be strings"), value));
        }
        return new CallArguments(positional, keywords);
    }

    public object? CallValue(object? callee, CallArguments args)
    {
        if (callee is Undefined u) throw u.Fail();
        if (callee is not PyCallable f) throw TemplateException.Type($"'{Py.TypeName(callee)}' object is not callable");
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new TemplateException("RecursionError", "maximum recursion depth exceeded");
        return f.Call(this, args);
    }

    object? ApplyFilterChain(FilterExpr f, object? input, Scope scope)
    {
        var value = f.Operand switch
        {
            null => input,
            FilterExpr inner => ApplyFilterChain(inner, input, scope),
            var operand => Eval(operand, scope),
        };
        return ApplyFilter(f.Name, value, EvalArguments(f.Args, scope));
    }

    // ---- attribute and item access (the sandbox's rules) ----

    public static object? GetAttr(object? obj, string name)
    {
        if (obj is Undefined u) throw u.Fail();
        if (name.StartsWith("__", StringComparison.Ordinal) && name.EndsWith("__", StringComparison.Ordinal)) return Unsafe(obj, name);
        if (PyMethods.Lookup(obj, name) is { } method) return method;
        return obj switch
        {
            Namespace ns => ns.Attributes.TryGetValue(name, out var v) ? v : Undefined.Member(obj, name),
            LoopContext loop => loop.Attribute(name),
            PyDict d => d.TryGet(name, out var v) ? v : Undefined.Member(obj, name),
            _ => Undefined.Member(obj, name),
        };
    }

    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Fail();
        switch (obj)
        {
            case PyDict d when d.TryGet(key, out var v): return v;
            case IReadOnlyList<object?> list when key is long or bool:
                var i = Py.ToLong(key);
                if (i < 0) i += list.Count;
                if (i >= 0 && i < list.Count) return list[(int)i];
                break;
            case string or Markup when key is long or bool:
                var chars = Py.Characters(Py.AsString(obj)!);
                var j = Py.ToLong(key);
                if (j < 0) j += chars.Count;
                if (j >= 0 && j < chars.Count) return chars[(int)j];
                break;
        }
        if (key is string name)
        {
            if (name.StartsWith("__", StringComparison.Ordinal) && name.EndsWith("__", StringComparison.Ordinal)) return Unsafe(obj, name);
            if (PyMethods.Lookup(obj, name) is { } method) return method;
            if (obj is LoopContext loop) return loop.Attribute(name);
            return Undefined.Member(obj, name);
        }
        return Undefined.Member(obj, key ?? "None");
    }

    public static Undefined Unsafe(object? obj, string name) =>
        Undefined.WithHint($"access to attribute '{name}' of '{Py.TypeName(obj)}' object is unsafe.", "SecurityError");

    static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        long? Index(object? v) => v switch
        {
            null => null,
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw TemplateException.Type("slice indices must be integers or None or have an __index__ method"),
        };
        var st = Index(step) ?? 1;
        if (st == 0) throw TemplateException.Value("slice step cannot be zero");
        IReadOnlyList<object?> items = obj switch
        {
            List<object?> l => l,
            PyTuple t => t,
            string or Markup => Py.Characters(Py.AsString(obj)!),
            _ => null!,
        };
        if (items == null) return Undefined.Member(obj, "slice");
        var n = (long)items.Count;
        long Clamp(long? v, long dflt)
        {
            if (v is not { } x) return dflt;
            if (x < 0) x += n;
            return st > 0 ? Math.Clamp(x, 0, n) : Math.Clamp(x, -1, n - 1);
        }
        var from = Clamp(Index(start), st > 0 ? 0 : n - 1);
        var to = Clamp(Index(stop), st > 0 ? n : -1);
        var result = new List<object?>();
        for (var i = from; st > 0 ? i < to : i > to; i += st) result.Add(items[(int)i]);
        return obj switch
        {
            List<object?> => result,
            PyTuple => new PyTuple(result.ToArray()),
            Markup => new Markup(string.Concat(result.Cast<string>())),
            _ => string.Concat(result.Cast<string>()),
        };
    }

    // ---- operators ----

    static object? Unary(string op, object? v)
    {
        if (v is Undefined u) throw u.Fail();
        return (op, v) switch
        {
            ("-", long l) => checked(-l),
            ("-", bool b) => b ? -1L : 0L,
            ("-", double d) => -d,
            ("+", long or double) => v,
            ("+", bool b) => b ? 1L : 0L,
            _ => throw TemplateException.Type($"bad operand type for unary {op}: '{Py.TypeName(v)}'"),
        };
    }

    public static object? Binary(string op, object? a, object? b)
    {
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        if (Py.IsNumber(a) && Py.IsNumber(b)) return Arithmetic(op, a, b);
        switch (op)
        {
            case "+":
                if (a is Markup || b is Markup)
                {
                    if (Py.IsString(a) && Py.IsString(b)) return new Markup(Concat(EscapeUnsafe(a), EscapeUnsafe(b)));
                }
                else if (a is string sa && b is string sb) return Concat(sa, sb);
                if (a is List<object?> la && b is List<object?> lb)
                {
                    Py.CheckLength((long)la.Count + lb.Count);
                    return new List<object?>(la.Concat(lb));
                }
                if (a is PyTuple ta && b is PyTuple tb) return new PyTuple(ta.Items.Concat(tb.Items).ToArray());
                if (a is string or Markup or List<object?> or PyTuple)
                    throw TemplateException.Type($"can only concatenate {Py.TypeName(a)} (not \"{Py.TypeName(b)}\") to {Py.TypeName(a)}");
                break;
            case "*":
                if (b is long or bool && Repeat(a, Py.ToLong(b)) is { } r1) return r1;
                if (a is long or bool && Repeat(b, Py.ToLong(a)) is { } r2) return r2;
                if (a is string or Markup or List<object?> or PyTuple || b is string or Markup or List<object?> or PyTuple)
                    throw TemplateException.Type($"can't multiply sequence by non-int of type '{Py.TypeName(a is string or Markup or List<object?> or PyTuple ? b : a)}'");
                break;
            case "%":
                if (Py.AsString(a) is { } format) return PyFormat.Printf(format, b);
                break;
        }
        throw TemplateException.Type($"unsupported operand type(s) for {op}: '{Py.TypeName(a)}' and '{Py.TypeName(b)}'");
    }

    static string EscapeUnsafe(object? v) => v is Markup m ? m.Value : Markup.Escape(Py.AsString(v)!);

    static string Concat(string a, string b)
    {
        Py.CheckLength((long)a.Length + b.Length);
        return a + b;
    }

    static object? Repeat(object? seq, long n)
    {
        n = Math.Max(n, 0);
        switch (seq)
        {
            case string or Markup:
                var s = Py.AsString(seq)!;
                Py.CheckLength(s.Length * n);
                var repeated = new StringBuilder(s.Length * (int)n).Insert(0, s, (int)n).ToString();
                return seq is Markup ? new Markup(repeated) : repeated;
            case List<object?> l:
                Py.CheckLength(l.Count * n);
                var list = new List<object?>();
                for (var i = 0; i < n; i++) list.AddRange(l);
                return list;
            case PyTuple t:
                Py.CheckLength(t.Count * n);
                return new PyTuple(Enumerable.Repeat(t.Items, (int)n).SelectMany(x => x).ToArray());
            default: return null;
        }
    }

    static object Arithmetic(string op, object? a, object? b)
    {
        if (a is double || b is double || op == "/")
        {
            double x = Py.ToDouble(a), y = Py.ToDouble(b);
            switch (op)
            {
                case "+": return x + y;
                case "-": return x - y;
                case "*": return x * y;
                case "/":
                    if (y == 0) throw new TemplateException("ZeroDivisionError", a is double || b is double ? "float division by zero" : "division by zero");
                    return x / y;
                case "//":
                    if (y == 0) throw new TemplateException("ZeroDivisionError", "float floor division by zero");
                    return Math.Floor(x / y);
                case "%":
                    if (y == 0) throw new TemplateException("ZeroDivisionError", "float modulo by zero");
                    var m = x % y;
                    return m != 0 && (m < 0) != (y < 0) ? m + y : m;
                case "**":
                    if (x == 0 && y < 0) throw new TemplateException("ZeroDivisionError", "zero to a negative power");
                    return Math.Pow(x, y);
            }
        }
        long i = Py.ToLong(a), j = Py.ToLong(b);
        switch (op)
        {
            case "+": return checked(i + j);
            case "-": return checked(i - j);
            case "*": return checked(i * j);
            case "//":
                if (j == 0) throw new TemplateException("ZeroDivisionError", "integer division or modulo by zero");
                var q = i / j;
                return (i % j != 0 && (i < 0) != (j < 0)) ? q - 1 : q;
            case "%":
                if (j == 0) throw new TemplateException("ZeroDivisionError", "integer modulo by zero");
                var r = i % j;
                return r != 0 && (r < 0) != (j < 0) ? r + j : r;
            case "**":
                if (j < 0) return Arithmetic("**", (double)i, (double)j);
                long result = 1;
                for (var k = 0L; k < j; k++)
                {
                    result = checked(result * i);
                    if (result is 0 or 1 && (i is 0 or 1)) break;
                    if (i == -1) { result = j % 2 == 0 ? 1 : -1; break; }
                }
                return result;
        }
        throw new InvalidOperationException(op);
    }
}
