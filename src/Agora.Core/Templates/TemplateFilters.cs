using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;

namespace Agora.Templates;

/// <summary>Jinja2's built-in filters and tests (with transformers' tojson), as the renderer applies them.</summary>
internal sealed partial class TemplateRenderer
{
    public static readonly HashSet<string> FilterNames =
    [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
        "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
        "title", "tojson", "trim", "unique", "upper", "wordcount",
    ];

    public static readonly HashSet<string> TestNames =
    [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "filter", "float",
        "ge", "gt", "greaterthan", "in", "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping", "ne", "none",
        "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined", "upper", "==", "!=", "<", "<=", ">", ">=",
    ];

    static bool Given(object? v) => !ReferenceEquals(v, CallArguments.Missing);
    static object? Or(object? v, object? dflt) => Given(v) ? v : dflt;

    static string SoftStr(object? v) => Py.Str(v);

    object? ApplyFilter(string name, object? value, CallArguments args)
    {
        switch (name)
        {
            case "tojson":
                var j = args.Bind("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
                return PyJson.Dumps(value, Py.Truthy(Or(j[0], false)), Or(j[1], null), Or(j[2], null), Py.Truthy(Or(j[3], false)));
            case "default" or "d":
                var df = args.Bind(name, "default_value", "boolean");
                return value is Undefined || (Py.Truthy(Or(df[1], false)) && !Py.Truthy(value)) ? Or(df[0], "") : value;
            case "trim":
                var chars = args.Bind(name, "chars")[0];
                return Py.Strip(SoftStr(value), Given(chars) && chars is not null ? SoftStr(chars) : null, true, true);
            case "length" or "count":
                args.Bind(name);
                return Py.Len(value);
            case "join":
                var jn = args.Bind(name, "d", "attribute");
                var items = Py.Iterate(value);
                if (Given(jn[1]) && jn[1] is not null) items = items.Select(Getter(jn[1])).ToList();
                var separator = Given(jn[0]) ? SoftStr(jn[0]) : "";
                var sb = new StringBuilder();
                for (var i = 0; i < items.Count; i++)
                {
                    if (i > 0) sb.Append(separator);
                    sb.Append(Py.Str(items[i]));
                    Py.CheckLength(sb.Length);
                }
                return sb.ToString();
            case "map": return Map(value, args);
            case "select" or "reject": return Select(value, args, attribute: false, keep: name == "select");
            case "selectattr" or "rejectattr": return Select(value, args, attribute: true, keep: name == "selectattr");
            case "items":
                args.Bind(name);
                if (value is Undefined) return new List<object?>();
                if (value is not PyDict dict) throw TemplateException.Type("Can only get item pairs from a mapping.");
                return dict.Entries.Select(e => (object?)new PyTuple([e.Key, e.Value])).ToList();
            case "list":
                args.Bind(name);
                return new List<object?>(Py.Iterate(value));
            case "first":
                args.Bind(name);
                var all = Py.Iterate(value);
                return all.Count > 0 ? all[0] : Undefined.WithHint("No first item, sequence was empty.");
            case "last":
                args.Bind(name);
                var seq = Py.Iterate(value);
                return seq.Count > 0 ? seq[^1] : Undefined.WithHint("No last item, sequence was empty.");
            case "upper": args.Bind(name); return SoftStr(value).ToUpperInvariant();
            case "lower": args.Bind(name); return SoftStr(value).ToLowerInvariant();
            case "capitalize": args.Bind(name); return PyMethods.Capitalize(SoftStr(value));
            case "title": args.Bind(name); return JinjaTitle(SoftStr(value));
            case "replace":
                var r = args.Bind(name, "old", "new", "count");
                var count = Or(r[2], null) is null ? -1 : Py.ToLong(r[2]);
                return PyMethods.Replace(SoftStr(value), SoftStr(r[0]), SoftStr(r[1]), count);
            case "string": args.Bind(name); return value is Markup ? value : Py.Str(value);
            case "safe": args.Bind(name); return value is Markup ? value : new Markup(Py.Str(value));
            case "escape" or "e" or "forceescape":
                args.Bind(name);
                return value is Markup && name != "forceescape" ? value : new Markup(Markup.Escape(Py.Str(value)));
            case "int":
                var ia = args.Bind(name, "default", "base");
                return ToInt(value, Or(ia[0], 0L), Py.ToLong(Or(ia[1], 10L)));
            case "float":
                var fa = args.Bind(name, "default");
                return ToFloat(value, Or(fa[0], 0.0));
            case "abs":
                args.Bind(name);
                return value switch
                {
                    long l => (object)checked(Math.Abs(l)),
                    double d => Math.Abs(d),
                    bool b => b ? 1L : 0L,
                    Undefined u => throw u.Fail(),
                    _ => throw TemplateException.Type($"bad operand type for abs(): '{Py.TypeName(value)}'"),
                };
            case "round": return Round(value, args);
            case "unique": return Unique(value, args);
            case "sort": return Sort(value, args);
            case "reverse":
                args.Bind(name);
                if (Py.AsString(value) is { } text) return string.Concat(Py.Characters(text).Cast<string>().Reverse());
                return Py.Iterate(value).Reverse().ToList();
            case "dictsort": return DictSort(value, args);
            case "indent": return Indent(value, args);
            case "wordcount": args.Bind(name); return (long)Regex.Matches(SoftStr(value), @"\w+").Count;
            case "batch": return Batch(value, args);
            case "sum":
                var sa = args.Bind(name, "attribute", "start");
                object? total = Or(sa[1], 0L);
                var addends = Py.Iterate(value);
                if (Given(sa[0]) && sa[0] is not null) addends = addends.Select(Getter(sa[0])).ToList();
                foreach (var x in addends) total = Binary("+", total, x);
                return total;
            case "min" or "max": return MinMax(value, args, name);
            case "center":
                var ca = args.Bind(name, "width");
                return PyMethods.Justify(SoftStr(value), Py.ToLong(Or(ca[0], 80L)), ' ', "center");
            case "attr":
                var aa = args.Bind(name, "name");
                return GetAttr(value, SoftStr(aa[0]));
            case "format":
                return args.Keywords.Count > 0 && args.Positional.Count > 0
                    ? throw TemplateException.Runtime("can't handle positional and keyword arguments at the same time")
                    : PyFormat.Printf(SoftStr(value), args.Keywords.Count > 0 ? KeywordsDict(args) : new PyTuple(args.Positional.ToArray()));
        }
        throw new TemplateException("TemplateRuntimeError", $"No filter named '{name}'.");
    }

    static PyDict KeywordsDict(CallArguments args)
    {
        var d = new PyDict();
        foreach (var (k, v) in args.Keywords) d.Set(k, v);
        return d;
    }

    // Jinja's title filter capitalizes after whitespace and opening punctuation, unlike str.title().
    static string JinjaTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        var wordStart = true;
        foreach (var c in s)
        {
            var boundary = c is '-' or '(' or '{' or '[' or '<' || Py.IsSpace(c);
            sb.Append(boundary ? c : wordStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            wordStart = boundary;
        }
        return sb.ToString();
    }

    static object? ToInt(object? value, object? dflt, long numberBase)
    {
        switch (value)
        {
            case long: return value;
            case bool b: return b ? 1L : 0L;
            case double d: return double.IsFinite(d) && Math.Abs(d) < 9.2e18 ? (long)Math.Truncate(d) : dflt;
            case string or Markup:
                var s = Py.AsString(value)!.Trim().Replace("_", "");
                try
                {
                    if (numberBase == 10 && long.TryParse(s, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n)) return n;
                    if (numberBase is 2 or 8 or 16)
                    {
                        var negative = s.StartsWith('-');
                        var digits = s.TrimStart('+', '-');
                        var prefix = numberBase switch { 2 => "0b", 8 => "0o", _ => "0x" };
                        if (digits.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) digits = digits[2..];
                        var parsed = Convert.ToInt64(digits, (int)numberBase);
                        return negative ? -parsed : parsed;
                    }
                }
                catch (Exception e) when (e is FormatException or OverflowException or ArgumentException) { }
                return ToFloat(value, null) is double f && double.IsFinite(f) ? (long)Math.Truncate(f) : dflt;
            default: return dflt;
        }
    }

    static object? ToFloat(object? value, object? dflt)
    {
        switch (value)
        {
            case double: return value;
            case long l: return (double)l;
            case bool b: return b ? 1.0 : 0.0;
            case string or Markup:
                var s = Py.AsString(value)!.Trim().Replace("_", "").ToLowerInvariant();
                if (s is "nan" or "+nan" or "-nan") return double.NaN;
                if (s is "inf" or "+inf" or "infinity" or "+infinity") return double.PositiveInfinity;
                if (s is "-inf" or "-infinity") return double.NegativeInfinity;
                if (s.Length > 0 && s.All(c => char.IsAsciiDigit(c) || c is '.' or 'e' or '+' or '-')
                    && double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d)) return d;
                return dflt;
            default: return dflt;
        }
    }

    object? Round(object? value, CallArguments args)
    {
        var a = args.Bind("round", "precision", "method");
        var precision = (int)Py.ToLong(Or(a[0], 0L));
        var method = Py.Str(Or(a[1], "common"));
        if (value is Undefined u) throw u.Fail();
        if (!Py.IsNumber(value)) throw TemplateException.Type($"type {Py.TypeName(value)} doesn't define __round__ method");
        if (method == "common")
        {
            if (value is long or bool) return Py.ToLong(value);
            return RoundHalfEven(Py.ToDouble(value), precision);
        }
        if (method is not ("ceil" or "floor")) throw new TemplateException("FilterArgumentError", "method must be common, ceil or floor");
        var scale = Math.Pow(10, precision);
        var scaled = Py.ToDouble(value) * scale;
        return (method == "ceil" ? Math.Ceiling(scaled) : Math.Floor(scaled)) / scale;
    }

    /// <summary>Python's round(x, n): half-even on the double's exact binary value, not on its decimal rendering.</summary>
    static double RoundHalfEven(double x, int digits)
    {
        if (!double.IsFinite(x) || x == 0 || digits > 300) return x;
        if (digits < -308) return 0.0 * x;
        var bits = BitConverter.DoubleToInt64Bits(x);
        var exponent = (int)((bits >> 52) & 0x7FF);
        var mantissa = bits & 0xFFFFFFFFFFFFFL;
        if (exponent == 0) exponent++; else mantissa |= 1L << 52;
        exponent -= 1075; // |x| = mantissa * 2^exponent
        BigInteger numerator = mantissa, denominator = BigInteger.One;
        if (exponent > 0) numerator <<= exponent; else denominator <<= -exponent;
        if (digits >= 0) numerator *= BigInteger.Pow(10, digits); else denominator *= BigInteger.Pow(10, -digits);
        var q = BigInteger.DivRem(numerator, denominator, out var r);
        var twice = r * 2;
        if (twice > denominator || (twice == denominator && !q.IsEven)) q += 1;
        var text = q.ToString(CultureInfo.InvariantCulture) + "e" + (-digits).ToString(CultureInfo.InvariantCulture);
        var rounded = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        return x < 0 ? -rounded : rounded;
    }

    // ---- attribute paths, map/select ----

    static Func<object?, object?> Getter(object? attribute, object? dflt = null, bool lower = false)
    {
        object?[] parts = Py.AsString(attribute) is { } path
            ? path.Split('.').Select(p => long.TryParse(p, out var n) ? (object?)n : p).ToArray()
            : [attribute];
        return item =>
        {
            foreach (var part in parts)
            {
                item = GetItem(item, part);
                if (item is Undefined && dflt != null) { item = dflt; break; }
            }
            return lower && Py.AsString(item) is { } s ? s.ToLowerInvariant() : item;
        };
    }

    // map and select/reject skip falsy inputs (None included) without iterating them, as Jinja's generators do.
    object? Map(object? value, CallArguments args)
    {
        var items = Py.Truthy(value) ? Py.Iterate(value) : [];
        if (args.Positional.Count == 0)
        {
            var attribute = args.Keywords.FirstOrDefault(k => k.Key == "attribute");
            if (attribute.Key is null) throw new TemplateException("FilterArgumentError", "map requires a filter argument");
            var dflt = args.Keywords.FirstOrDefault(k => k.Key == "default");
            var get = Getter(attribute.Value, dflt.Key is null ? null : dflt.Value);
            return items.Select(get).ToList();
        }
        var filter = Py.Str(args.Positional[0]);
        if (!FilterNames.Contains(filter)) throw new TemplateException("TemplateRuntimeError", $"No filter named '{filter}'.");
        var rest = new CallArguments(args.Positional.Skip(1).ToList(), args.Keywords);
        return items.Select(x => ApplyFilter(filter, x, rest)).ToList();
    }

    object? Select(object? value, CallArguments args, bool attribute, bool keep)
    {
        var items = Py.Truthy(value) ? Py.Iterate(value) : [];
        var position = 0;
        Func<object?, object?> get = x => x;
        if (attribute)
        {
            if (args.Positional.Count == 0) throw TemplateException.Type("selectattr() missing required argument 'attr'");
            get = Getter(args.Positional[0]);
            position = 1;
        }
        Func<object?, bool> test = Py.Truthy;
        if (args.Positional.Count > position)
        {
            var testName = Py.Str(args.Positional[position]);
            if (!TestNames.Contains(testName)) throw new TemplateException("TemplateRuntimeError", $"No test named '{testName}'.");
            var rest = new CallArguments(args.Positional.Skip(position + 1).ToList(), args.Keywords);
            test = x => Py.Truthy(ApplyTest(testName, x, rest));
        }
        return items.Where(x => test(get(x)) == keep).ToList();
    }

    // ---- sorting ----

    static int CompareValues(object? a, object? b) => Py.Eq(a, b) ? 0 : Py.Compare(a, b, "<") ;

    static object? Unique(object? value, CallArguments args)
    {
        var a = args.Bind("unique", "case_sensitive", "attribute");
        var caseSensitive = Py.Truthy(Or(a[0], false));
        Func<object?, object?> key = Given(a[1]) && a[1] is not null
            ? Getter(a[1], lower: !caseSensitive)
            : x => !caseSensitive && Py.AsString(x) is { } s ? s.ToLowerInvariant() : x;
        var seen = new PyDict();
        var result = new List<object?>();
        foreach (var item in Py.Iterate(value))
        {
            var k = key(item);
            if (seen.ContainsKey(k)) continue;
            seen.Set(k, null);
            result.Add(item);
        }
        return result;
    }

    static object? Sort(object? value, CallArguments args)
    {
        var a = args.Bind("sort", "reverse", "case_sensitive", "attribute");
        var caseSensitive = Py.Truthy(Or(a[1], false));
        Func<object?, object?> key = Given(a[2]) && a[2] is not null
            ? Getter(a[2], lower: !caseSensitive)
            : x => !caseSensitive && Py.AsString(x) is { } s ? s.ToLowerInvariant() : x;
        var items = Py.Iterate(value).ToList();
        return SortBy(items, key, Py.Truthy(Or(a[0], false)));
    }

    static List<object?> SortBy(List<object?> items, Func<object?, object?> key, bool reverse)
    {
        var keyed = items.Select(x => (Key: key(x), Item: x)).ToList();
        var comparer = Comparer<object?>.Create(CompareValues);
        var sorted = reverse ? keyed.OrderByDescending(p => p.Key, comparer) : keyed.OrderBy(p => p.Key, comparer);
        return sorted.Select(p => p.Item).ToList();
    }

    static object? DictSort(object? value, CallArguments args)
    {
        var a = args.Bind("dictsort", "case_sensitive", "by", "reverse");
        if (value is not PyDict d) throw TemplateException.Type("You can only sort by either \"key\" or \"value\"");
        var by = Py.Str(Or(a[1], "key"));
        var position = by switch { "key" => 0, "value" => 1, _ => throw new TemplateException("FilterArgumentError", "You can only sort by either \"key\" or \"value\"") };
        var caseSensitive = Py.Truthy(Or(a[0], false));
        var pairs = d.Entries.Select(e => (object?)new PyTuple([e.Key, e.Value])).ToList();
        return SortBy(pairs, p =>
        {
            var k = ((PyTuple)p!)[position];
            return !caseSensitive && Py.AsString(k) is { } s ? s.ToLowerInvariant() : k;
        }, Py.Truthy(Or(a[2], false)));
    }

    static object? MinMax(object? value, CallArguments args, string name)
    {
        var a = args.Bind(name, "case_sensitive", "attribute");
        var caseSensitive = Py.Truthy(Or(a[0], false));
        var items = Py.Iterate(value);
        if (items.Count == 0) return Undefined.WithHint("No aggregated item, sequence was empty.");
        Func<object?, object?> key = Given(a[1]) && a[1] is not null
            ? Getter(a[1], lower: !caseSensitive)
            : x => !caseSensitive && Py.AsString(x) is { } s ? s.ToLowerInvariant() : x;
        var best = items[0];
        var bestKey = key(best);
        foreach (var item in items.Skip(1))
        {
            var k = key(item);
            var c = CompareValues(k, bestKey);
            if (name == "min" ? c < 0 : c > 0) { best = item; bestKey = k; }
        }
        return best;
    }

    static object? Indent(object? value, CallArguments args)
    {
        var a = args.Bind("indent", "width", "first", "blank");
        var width = Or(a[0], 4L);
        var indentation = Py.AsString(width) ?? new string(' ', (int)Math.Clamp(Py.ToLong(width), 0, Py.MaxStringLength));
        var s = Py.Str(value) + "\n";
        var lines = PyMethods.SplitLines(s, keepEnds: false);
        var sb = new StringBuilder();
        if (Py.Truthy(Or(a[2], false)))
            sb.AppendJoin("\n" + indentation, lines);
        else
        {
            sb.Append(lines[0]);
            for (var i = 1; i < lines.Count; i++)
            {
                sb.Append('\n');
                if (lines[i].Length > 0) sb.Append(indentation);
                sb.Append(lines[i]);
                Py.CheckLength(sb.Length);
            }
        }
        if (Py.Truthy(Or(a[1], false))) sb.Insert(0, indentation);
        Py.CheckLength(sb.Length);
        return value is Markup ? new Markup(sb.ToString()) : sb.ToString();
    }

    static object? Batch(object? value, CallArguments args)
    {
        var a = args.Bind("batch", "linecount", "fill_with");
        var size = Py.ToLong(a[0]);
        if (size <= 0) throw TemplateException.Value("batch size must be positive");
        var result = new List<object?>();
        List<object?>? current = null;
        foreach (var item in Py.Iterate(value))
        {
            if (current == null || current.Count == size) { current = new List<object?>(); result.Add(current); }
            current.Add(item);
        }
        if (current != null && Given(a[1]) && a[1] is not null)
            while (current.Count < size) current.Add(a[1]);
        return result;
    }

    // ---- tests ----

    object? ApplyTest(string name, object? value, CallArguments args)
    {
        object? Arg(string test)
        {
            var bound = args.Bind(test, "other");
            if (!Given(bound[0])) throw TemplateException.Type($"test_{test}() missing 1 required positional argument");
            return bound[0];
        }
        switch (name)
        {
            case "defined": return value is not Undefined;
            case "undefined": return value is Undefined;
            case "none": return value is null;
            case "boolean": return value is bool;
            case "true": return value is true;
            case "false": return value is false;
            case "string": return Py.IsString(value);
            case "number": return Py.IsNumber(value);
            case "integer": return value is long;
            case "float": return value is double;
            case "mapping": return value is PyDict;
            case "iterable": return value is string or Markup or List<object?> or PyTuple or PyDict or Undefined;
            case "sequence": return value is string or Markup or List<object?> or PyTuple or PyDict or Undefined;
            case "callable": return value is PyCallable;
            case "escaped": return value is Markup;
            case "lower": var lo = Py.Str(value); return lo.Any(char.IsLetter) && !lo.Any(char.IsUpper);
            case "upper": var up = Py.Str(value); return up.Any(char.IsLetter) && !up.Any(char.IsLower);
            case "even" or "odd":
                if (value is not (long or bool)) throw TemplateException.Type($"not all arguments converted during string formatting");
                return (Py.ToLong(value) % 2 == 0) == (name == "even");
            case "divisibleby":
                var divisor = Arg(name);
                return Py.Eq(Binary("%", value, divisor), 0L);
            case "eq" or "equalto" or "==": return Py.Eq(value, Arg(name));
            case "ne" or "!=": return !Py.Eq(value, Arg(name));
            case "lt" or "lessthan" or "<": return Py.CompareOp("<", value, Arg(name));
            case "le" or "<=": return Py.CompareOp("<=", value, Arg(name));
            case "gt" or "greaterthan" or ">": return Py.CompareOp(">", value, Arg(name));
            case "ge" or ">=": return Py.CompareOp(">=", value, Arg(name));
            case "in": return Py.Contains(Arg(name), value);
            case "sameas":
                var other = Arg(name);
                return value is null or bool ? Equals(value, other) && value?.GetType() == other?.GetType() : ReferenceEquals(value, other);
            case "filter": return Py.AsString(value) is { } f && FilterNames.Contains(f);
            case "test": return Py.AsString(value) is { } t && TestNames.Contains(t);
        }
        throw new TemplateException("TemplateRuntimeError", $"No test named '{name}'.");
    }
}
