using System.Globalization;
using System.Text;

namespace Agora.Templates;

/// <summary>Python's semantics for the value model: truthiness, str/repr, equality, ordering, arithmetic.</summary>
internal static class Py
{
    /// <summary>Longest string a render may build; guards hostile templates against runaway memory.</summary>
    public const int MaxStringLength = 32 * 1024 * 1024;

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        Markup => "Markup",
        List<object?> => "list",
        PyTuple => "tuple",
        PyDict => "dict",
        Undefined => "Undefined",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        Macro => "Macro",
        BoundMethod => "builtin_function_or_method",
        PyCallable => "function",
        _ => v.GetType().Name,
    };

    /// <summary>Jinja's object_type_repr, used in undefined messages.</summary>
    public static string ObjectTypeRepr(object? v) => v switch
    {
        null => "None",
        Markup => "markupsafe.Markup object",
        Namespace => "jinja2.utils.Namespace object",
        LoopContext => "jinja2.runtime.LoopContext object",
        Macro => "jinja2.runtime.Macro object",
        _ => TypeName(v) + " object",
    };

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length != 0,
        Markup m => m.Value.Length != 0,
        List<object?> l => l.Count != 0,
        PyTuple t => t.Count != 0,
        PyDict d => d.Count != 0,
        Undefined => false,
        _ => true,
    };

    public static bool IsString(object? v) => v is string or Markup;
    public static bool IsNumber(object? v) => v is long or double or bool;

    /// <summary>The str of a str-like value, or null.</summary>
    public static string? AsString(object? v) => v switch { string s => s, Markup m => m.Value, _ => null };

    public static string Str(object? v) => v switch
    {
        string s => s,
        Markup m => m.Value,
        Undefined => "",
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v, 0);
        return sb.ToString();
    }

    static void AppendRepr(StringBuilder sb, object? v, int depth)
    {
        if (depth > 200) throw new TemplateException("RecursionError", "maximum recursion depth exceeded while getting the repr of an object");
        CheckLength(sb.Length);
        switch (v)
        {
            case null: sb.Append("None"); break;
            case bool b: sb.Append(b ? "True" : "False"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(FloatRepr(d)); break;
            case string s: AppendStringRepr(sb, s); break;
            case Markup m: sb.Append("Markup("); AppendStringRepr(sb, m.Value); sb.Append(')'); break;
            case List<object?> list:
                sb.Append('[');
                for (var i = 0; i < list.Count; i++) { if (i > 0) sb.Append(", "); AppendRepr(sb, list[i], depth + 1); }
                sb.Append(']');
                break;
            case PyTuple t:
                sb.Append('(');
                for (var i = 0; i < t.Count; i++) { if (i > 0) sb.Append(", "); AppendRepr(sb, t[i], depth + 1); }
                if (t.Count == 1) sb.Append(',');
                sb.Append(')');
                break;
            case PyDict d:
                sb.Append('{');
                var first = true;
                foreach (var (key, value) in d)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    AppendRepr(sb, key, depth + 1); sb.Append(": "); AppendRepr(sb, value, depth + 1);
                }
                sb.Append('}');
                break;
            case Undefined: sb.Append("Undefined"); break;
            case Namespace ns:
                sb.Append("<Namespace {");
                var firstAttr = true;
                foreach (var (key, value) in ns.Attributes)
                {
                    if (!firstAttr) sb.Append(", ");
                    firstAttr = false;
                    AppendStringRepr(sb, key); sb.Append(": "); AppendRepr(sb, value, depth + 1);
                }
                sb.Append("}>");
                break;
            case LoopContext loop: sb.Append($"<LoopContext {loop.Index}/{loop.Length}>"); break;
            case Macro macro: sb.Append($"<Macro '{macro.Name}'>"); break;
            case PyCallable f: sb.Append($"<function {f.Name}>"); break;
            default: sb.Append(v.ToString()); break;
        }
    }

    public static void AppendStringRepr(StringBuilder sb, string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == quote || c == '\\') { sb.Append('\\').Append(c); continue; }
            switch (c)
            {
                case '\n': sb.Append("\\n"); continue;
                case '\r': sb.Append("\\r"); continue;
                case '\t': sb.Append("\\t"); continue;
            }
            int cp = c;
            var width = 1;
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { cp = char.ConvertToUtf32(c, s[i + 1]); width = 2; }
            if (IsPrintable(cp)) sb.Append(s, i, width);
            else if (cp < 0x100) sb.Append("\\x").Append(cp.ToString("x2"));
            else if (cp < 0x10000) sb.Append("\\u").Append(cp.ToString("x4"));
            else sb.Append("\\U").Append(cp.ToString("x8"));
            i += width - 1;
        }
        sb.Append(quote);
    }

    static bool IsPrintable(int cp)
    {
        if (cp == ' ') return true;
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;
        var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat is not (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);
    }

    /// <summary>Python's repr(float): the shortest round-trip digits, fixed between 1e-4 and 1e16, else exponent.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        var r = d.ToString("R", CultureInfo.InvariantCulture);
        var negative = r[0] == '-';
        if (negative) r = r[1..];
        var exp = 0;
        var e = r.IndexOfAny(['E', 'e']);
        if (e >= 0) { exp = int.Parse(r[(e + 1)..], CultureInfo.InvariantCulture); r = r[..e]; }
        var dot = r.IndexOf('.');
        var intPart = dot < 0 ? r : r[..dot];
        var digits = intPart + (dot < 0 ? "" : r[(dot + 1)..]);
        var decpt = intPart.Length + exp; // value = 0.digits * 10^decpt
        var lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') { lead++; decpt--; }
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var sb = new StringBuilder();
        if (negative) sb.Append('-');
        if (decpt > 16 || decpt < -3)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            var x = decpt - 1;
            sb.Append('e').Append(x < 0 ? '-' : '+').Append(Math.Abs(x).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (decpt <= 0) sb.Append("0.").Append('0', -decpt).Append(digits);
        else if (decpt >= digits.Length) sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
        else sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        return sb.ToString();
    }

    public static void CheckLength(long length)
    {
        if (length > MaxStringLength)
            throw new TemplateException("MemoryError", $"the template built a string longer than {MaxStringLength} characters");
    }

    // ---- equality, hashing, ordering ----

    public static bool IsHashable(object? v) => v switch
    {
        List<object?> or PyDict or Namespace => false,
        PyTuple t => t.Items.All(IsHashable),
        _ => true,
    };

    public static int Hash(object? v) => v switch
    {
        null => 0,
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d => d == Math.Floor(d) && Math.Abs(d) < 9.2e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
        string s => s.GetHashCode(),
        Markup m => m.Value.GetHashCode(),
        PyTuple t => t.Items.Aggregate(17, (h, x) => h * 31 + Hash(x)),
        _ => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(v),
    };

    public static bool Eq(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a) == ToDouble(b);
            return ToLong(a) == ToLong(b);
        }
        switch (a)
        {
            case null: return b is null;
            case string or Markup: return AsString(b) is { } sb && AsString(a) == sb;
            case List<object?> la: return b is List<object?> lb && SequenceEq(la, lb);
            case PyTuple ta: return b is PyTuple tb && SequenceEq(ta, tb);
            case PyDict da:
                if (b is not PyDict db || da.Count != db.Count) return false;
                foreach (var (k, v) in da)
                    if (!db.TryGet(k, out var other) || !Eq(v, other)) return false;
                return true;
            case Undefined: return b is Undefined;
            default: return ReferenceEquals(a, b);
        }
    }

    static bool SequenceEq(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (var i = 0; i < a.Count; i++) if (!Eq(a[i], b[i])) return false;
        return true;
    }

    /// <summary>What <see cref="Compare"/> returns for NaN: every ordering comparison with it is false.</summary>
    public const int Unordered = 2;

    /// <summary>Python's ordering for &lt;, &gt;…: numbers, strings, and sequences of those; anything else is a TypeError.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        if (a is Undefined u) throw u.Fail();
        if (b is Undefined ub) throw ub.Fail();
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double)
            {
                double x = ToDouble(a), y = ToDouble(b);
                if (double.IsNaN(x) || double.IsNaN(y)) return Unordered;
                return x.CompareTo(y);
            }
            return ToLong(a).CompareTo(ToLong(b));
        }
        if (AsString(a) is { } sa && AsString(b) is { } sb) return string.CompareOrdinal(sa, sb) switch { < 0 => -1, > 0 => 1, _ => 0 };
        if ((a is List<object?> && b is List<object?>) || (a is PyTuple && b is PyTuple))
        {
            var la = (IReadOnlyList<object?>)a; var lb = (IReadOnlyList<object?>)b;
            for (var i = 0; i < la.Count && i < lb.Count; i++)
                if (!Eq(la[i], lb[i])) return Compare(la[i], lb[i], op);
            return la.Count.CompareTo(lb.Count);
        }
        throw TemplateException.Type($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static bool CompareOp(string op, object? a, object? b)
    {
        switch (op)
        {
            case "==": return Eq(a, b);
            case "!=": return !Eq(a, b);
        }
        var c = Compare(a, b, op);
        if (c == Unordered) return false;
        return op switch { "<" => c < 0, "<=" => c <= 0, ">" => c > 0, ">=" => c >= 0, _ => throw new InvalidOperationException(op) };
    }

    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string or Markup:
                if (item is Undefined u0) throw u0.Fail();
                if (AsString(item) is not { } needle)
                    throw TemplateException.Type($"'in <string>' requires string as left operand, not {TypeName(item)}");
                return AsString(container)!.Contains(needle, StringComparison.Ordinal);
            case List<object?> l: return l.Any(x => Eq(x, item));
            case PyTuple t: return t.Items.Any(x => Eq(x, item));
            case PyDict d:
                if (!IsHashable(item)) throw TemplateException.Type($"unhashable type: '{TypeName(item)}'");
                return d.ContainsKey(item);
            case Undefined: return false;
            default: throw TemplateException.Type($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    // ---- numbers ----

    public static long ToLong(object? v) => v switch { long l => l, bool b => b ? 1 : 0, double d => (long)d, _ => 0 };
    public static double ToDouble(object? v) => v switch { long l => l, bool b => b ? 1 : 0, double d => d, _ => 0 };

    // ---- iteration ----

    /// <summary>The items a for loop or filter sees: list/tuple items, dict keys, string characters.</summary>
    public static IReadOnlyList<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        PyTuple t => t,
        PyDict d => d.Entries.Select(e => e.Key).ToList(),
        string or Markup => Characters(AsString(v)!),
        Undefined => Array.Empty<object?>(),
        _ => throw TemplateException.Type($"'{TypeName(v)}' object is not iterable"),
    };

    public static List<object?> Characters(string s)
    {
        var list = new List<object?>(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { list.Add(s.Substring(i, 2)); i++; }
            else list.Add(s[i].ToString());
        }
        return list;
    }

    public static long Len(object? v) => v switch
    {
        string s => CodePointCount(s),
        Markup m => CodePointCount(m.Value),
        List<object?> l => l.Count,
        PyTuple t => t.Count,
        PyDict d => d.Count,
        Undefined => 0,
        _ => throw TemplateException.Type($"object of type '{TypeName(v)}' has no len()"),
    };

    public static int CodePointCount(string s)
    {
        var n = s.Length;
        for (var i = 0; i + 1 < s.Length; i++)
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1])) { n--; i++; }
        return n;
    }

    /// <summary>Python's str.isspace for one character (it also counts the separators \x1c-\x1f).</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    public static string Strip(string s, string? chars, bool left, bool right)
    {
        int start = 0, end = s.Length;
        Func<char, bool> strip = chars is null ? IsSpace : chars.Contains;
        if (left) while (start < end && strip(s[start])) start++;
        if (right) while (end > start && strip(s[end - 1])) end--;
        return s[start..end];
    }
}
