using System.Text;

namespace Agora.Templates;

/// <summary>A Python method bound to its receiver, e.g. <c>message.content.strip</c>.</summary>
internal sealed class BoundMethod(object? receiver, string name) : PyCallable
{
    public override string Name => name;
    public override object? Call(TemplateRenderer renderer, CallArguments args) => PyMethods.Invoke(receiver, name, args);
}

/// <summary>The str, dict and list methods templates call; mutating methods are refused as the immutable sandbox does.</summary>
internal static class PyMethods
{
    static readonly HashSet<string> StringMethods =
    [
        "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit", "splitlines", "upper", "lower", "title",
        "capitalize", "swapcase", "casefold", "replace", "find", "rfind", "index", "rindex", "count", "join", "format",
        "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal", "istitle",
        "zfill", "center", "ljust", "rjust", "partition", "rpartition", "removeprefix", "removesuffix", "expandtabs",
    ];
    static readonly HashSet<string> DictMethods = ["get", "items", "keys", "values", "copy"];
    static readonly HashSet<string> DictMutators = ["clear", "pop", "popitem", "setdefault", "update"];
    static readonly HashSet<string> ListMethods = ["index", "count", "copy"];
    static readonly HashSet<string> ListMutators = ["append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"];

    /// <summary>The bound method (or the sandbox's refusal) for <paramref name="name"/> on <paramref name="obj"/>, or null.</summary>
    public static object? Lookup(object? obj, string name) => obj switch
    {
        string or Markup when StringMethods.Contains(name) => new BoundMethod(obj, name),
        PyDict when DictMethods.Contains(name) => new BoundMethod(obj, name),
        PyDict when DictMutators.Contains(name) => TemplateRenderer.Unsafe(obj, name),
        List<object?> when ListMethods.Contains(name) => new BoundMethod(obj, name),
        List<object?> when ListMutators.Contains(name) => TemplateRenderer.Unsafe(obj, name),
        PyTuple when name is "index" or "count" => new BoundMethod(obj, name),
        _ => null,
    };

    public static object? Invoke(object? self, string name, CallArguments args)
    {
        if (Py.AsString(self) is { } s) return StringMethod(s, name, args);
        switch (self, name)
        {
            case (PyDict d, "get"):
                var g = args.Bind("get", "key", "default");
                return d.TryGet(g[0], out var v) ? v : Or(g[1], null);
            case (PyDict d, "items"):
                NoArgs(args, name);
                return d.Entries.Select(e => (object?)new PyTuple([e.Key, e.Value])).ToList();
            case (PyDict d, "keys"):
                NoArgs(args, name);
                return d.Entries.Select(e => e.Key).ToList();
            case (PyDict d, "values"):
                NoArgs(args, name);
                return d.Entries.Select(e => e.Value).ToList();
            case (PyDict d, "copy"):
                NoArgs(args, name);
                var copy = new PyDict();
                foreach (var (key, value) in d) copy.Set(key, value);
                return copy;
            case (List<object?> l, "copy"):
                NoArgs(args, name);
                return new List<object?>(l);
            case (IReadOnlyList<object?> l, "count"):
                var c = args.Bind("count", "value");
                return (long)l.Count(x => Py.Eq(x, c[0]));
            case (IReadOnlyList<object?> l, "index"):
                var a = args.Bind("index", "value", "start", "stop");
                var start = Or(a[1], 0L) is long st ? st : 0;
                var stop = Or(a[2], (long)l.Count) is long sp ? sp : l.Count;
                if (start < 0) start = Math.Max(0, start + l.Count);
                if (stop < 0) stop += l.Count;
                for (var i = (int)start; i < Math.Min(stop, l.Count); i++) if (Py.Eq(l[i], a[0])) return (long)i;
                throw TemplateException.Value($"{Py.Repr(a[0])} is not in {(self is PyTuple ? "tuple" : "list")}");
        }
        throw TemplateException.Type($"'{Py.TypeName(self)}' object has no attribute '{name}'");
    }

    static object? Or(object? value, object? dflt) => ReferenceEquals(value, CallArguments.Missing) ? dflt : value;

    static void NoArgs(CallArguments args, string name)
    {
        if (args.Positional.Count > 0 || args.Keywords.Count > 0)
            throw TemplateException.Type($"{name}() takes no arguments ({args.Positional.Count + args.Keywords.Count} given)");
    }

    static string Str(object? v, string method, string what = "argument")
    {
        if (v is Undefined u) throw u.Fail();
        return Py.AsString(v) ?? throw TemplateException.Type($"{method}() {what} must be str, not {Py.TypeName(v)}");
    }

    static string? OptStr(object? v, string method) =>
        ReferenceEquals(v, CallArguments.Missing) || v is null ? null : Str(v, method);

    static long OptInt(object? v, long dflt, string method)
    {
        if (ReferenceEquals(v, CallArguments.Missing) || v is null) return dflt;
        if (v is long or bool) return Py.ToLong(v);
        throw TemplateException.Type($"'{Py.TypeName(v)}' object cannot be interpreted as an integer");
    }

    static object? StringMethod(string s, string name, CallArguments args)
    {
        switch (name)
        {
            case "strip" or "lstrip" or "rstrip":
                var chars = OptStr(args.Bind(name, "chars")[0], name);
                return Py.Strip(s, chars, left: name != "rstrip", right: name != "lstrip");
            case "startswith" or "endswith":
                var a = args.Bind(name, "prefix", "start", "end");
                var (from, to) = SpanOf(s, a[1], a[2], name);
                var part = s[from..to];
                var candidates = a[0] is PyTuple t ? t.Items : [a[0]];
                foreach (var c in candidates)
                {
                    var text = Py.AsString(c) ?? throw TemplateException.Type(
                        $"{name} first arg must be str or a tuple of str, not {Py.TypeName(c)}");
                    if (name == "startswith" ? part.StartsWith(text, StringComparison.Ordinal) : part.EndsWith(text, StringComparison.Ordinal))
                        return true;
                }
                return false;
            case "split" or "rsplit":
                var sp = args.Bind(name, "sep", "maxsplit");
                return Split(s, OptStr(sp[0], name), OptInt(sp[1], -1, name), fromRight: name == "rsplit");
            case "splitlines":
                var keep = args.Bind(name, "keepends")[0];
                return SplitLines(s, !ReferenceEquals(keep, CallArguments.Missing) && Py.Truthy(keep)).Cast<object?>().ToList();
            case "upper": NoArgs(args, name); return s.ToUpperInvariant();
            case "lower": NoArgs(args, name); return s.ToLowerInvariant();
            case "casefold": NoArgs(args, name); return s.ToLowerInvariant();
            case "swapcase":
                NoArgs(args, name);
                return string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
            case "title": NoArgs(args, name); return Title(s);
            case "capitalize": NoArgs(args, name); return Capitalize(s);
            case "replace":
                var r = args.Bind(name, "old", "new", "count");
                return Replace(s, Str(r[0], name), Str(r[1], name), OptInt(r[2], -1, name));
            case "find" or "rfind" or "index" or "rindex" or "count":
                var f = args.Bind(name, "sub", "start", "end");
                var sub = Str(f[0], name);
                var (lo, hi) = SpanOf(s, f[1], f[2], name);
                var region = s[lo..hi];
                if (name == "count") return (long)CountOccurrences(region, sub);
                var at = name is "find" or "index" ? region.IndexOf(sub, StringComparison.Ordinal) : region.LastIndexOf(sub, StringComparison.Ordinal);
                if (at < 0 && name is "index" or "rindex") throw TemplateException.Value("substring not found");
                return at < 0 ? -1L : (long)(at + lo);
            case "join":
                var items = Py.Iterate(args.Bind(name, "iterable")[0]);
                var sb = new StringBuilder();
                for (var i = 0; i < items.Count; i++)
                {
                    if (i > 0) sb.Append(s);
                    sb.Append(Py.AsString(items[i]) ?? throw TemplateException.Type($"sequence item {i}: expected str instance, {Py.TypeName(items[i])} found"));
                    Py.CheckLength(sb.Length);
                }
                return sb.ToString();
            case "format": return PyFormat.Format(s, args);
            case "isdigit" or "isnumeric" or "isdecimal": NoArgs(args, name); return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha": NoArgs(args, name); return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum": NoArgs(args, name); return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace": NoArgs(args, name); return s.Length > 0 && s.All(Py.IsSpace);
            case "isupper": NoArgs(args, name); return s.Any(char.IsLetter) && !s.Any(char.IsLower);
            case "islower": NoArgs(args, name); return s.Any(char.IsLetter) && !s.Any(char.IsUpper);
            case "istitle": NoArgs(args, name); return s.Any(char.IsLetter) && Title(s) == s;
            case "zfill":
                var width = OptInt(args.Bind(name, "width")[0], 0, name);
                if (width <= s.Length) return s;
                Py.CheckLength(width);
                var sign = s.Length > 0 && s[0] is '+' or '-' ? 1 : 0;
                return s[..sign] + new string('0', (int)width - s.Length) + s[sign..];
            case "center" or "ljust" or "rjust":
                var j = args.Bind(name, "width", "fillchar");
                var fill = OptStr(j[1], name) ?? " ";
                if (fill.Length != 1) throw TemplateException.Type("The fill character must be exactly one character long");
                return Justify(s, OptInt(j[0], 0, name), fill[0], name);
            case "partition" or "rpartition":
                var sepText = Str(args.Bind(name, "sep")[0], name);
                if (sepText.Length == 0) throw TemplateException.Value("empty separator");
                var k = name == "partition" ? s.IndexOf(sepText, StringComparison.Ordinal) : s.LastIndexOf(sepText, StringComparison.Ordinal);
                if (k < 0) return name == "partition" ? new PyTuple([s, "", ""]) : new PyTuple(["", "", s]);
                return new PyTuple([s[..k], sepText, s[(k + sepText.Length)..]]);
            case "removeprefix":
                var prefix = Str(args.Bind(name, "prefix")[0], name);
                return s.StartsWith(prefix, StringComparison.Ordinal) ? s[prefix.Length..] : s;
            case "removesuffix":
                var suffix = Str(args.Bind(name, "suffix")[0], name);
                return suffix.Length > 0 && s.EndsWith(suffix, StringComparison.Ordinal) ? s[..^suffix.Length] : s;
            case "expandtabs":
                var tab = OptInt(args.Bind(name, "tabsize")[0], 8, name);
                var result = new StringBuilder();
                var column = 0;
                foreach (var ch in s)
                {
                    if (ch == '\t')
                    {
                        if (tab > 0) { var n = (int)(tab - column % tab); result.Append(' ', n); column += n; }
                    }
                    else { result.Append(ch); column = ch is '\n' or '\r' ? 0 : column + 1; }
                    Py.CheckLength(result.Length);
                }
                return result.ToString();
        }
        throw TemplateException.Type($"'str' object has no attribute '{name}'");
    }

    static (int, int) SpanOf(string s, object? start, object? end, string method)
    {
        long n = s.Length;
        long Norm(long v) => v < 0 ? Math.Max(0, v + n) : Math.Min(v, n);
        var from = Norm(OptInt(start, 0, method));
        var to = Norm(OptInt(end, n, method));
        return ((int)from, (int)Math.Max(from, to));
    }

    static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        var count = 0;
        for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0 && old.Length > 0)
        {
            Py.CheckLength((long)s.Length + (long)CountOccurrences(s, old) * Math.Max(0, replacement.Length - old.Length));
            return s.Replace(old, replacement, StringComparison.Ordinal);
        }
        var sb = new StringBuilder();
        var done = 0L;
        if (old.Length == 0)
        {
            // Python inserts the replacement before every character and at the end.
            for (var i = 0; i <= s.Length; i++)
            {
                if (count < 0 || done < count) { sb.Append(replacement); done++; }
                if (i < s.Length) sb.Append(s[i]);
                Py.CheckLength(sb.Length);
            }
            return sb.ToString();
        }
        var pos = 0;
        while (count < 0 || done < count)
        {
            var at = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, pos, at - pos).Append(replacement);
            Py.CheckLength(sb.Length);
            pos = at + old.Length;
            done++;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    static List<object?> Split(string s, string? sep, long maxsplit, bool fromRight)
    {
        var parts = new List<string>();
        if (sep is null)
        {
            // Runs of whitespace separate; leading/trailing whitespace yields no empty parts.
            var words = new List<(int Start, int End)>();
            var i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && Py.IsSpace(s[i])) i++;
                if (i >= s.Length) break;
                var start = i;
                while (i < s.Length && !Py.IsSpace(s[i])) i++;
                words.Add((start, i));
            }
            if (maxsplit < 0 || words.Count <= maxsplit + 1) return words.Select(w => (object?)s[w.Start..w.End]).ToList();
            var m = (int)maxsplit;
            if (!fromRight)
            {
                var head = words.Take(m).Select(w => (object?)s[w.Start..w.End]).ToList();
                head.Add(s[words[m].Start..]);
                return head;
            }
            var tail = words.Skip(words.Count - m).Select(w => (object?)s[w.Start..w.End]).ToList();
            tail.Insert(0, s[..words[words.Count - m - 1].End]);
            return tail;
        }
        if (sep.Length == 0) throw TemplateException.Value("empty separator");
        if (!fromRight)
        {
            var pos = 0;
            while (maxsplit < 0 || parts.Count < maxsplit)
            {
                var at = s.IndexOf(sep, pos, StringComparison.Ordinal);
                if (at < 0) break;
                parts.Add(s[pos..at]);
                pos = at + sep.Length;
            }
            parts.Add(s[pos..]);
        }
        else
        {
            var end = s.Length;
            while (maxsplit < 0 || parts.Count < maxsplit)
            {
                var at = end - sep.Length < 0 ? -1 : s.LastIndexOf(sep, end - 1, end, StringComparison.Ordinal);
                if (at < 0 || at + sep.Length > end) break;
                parts.Add(s[(at + sep.Length)..end]);
                end = at;
            }
            parts.Add(s[..end]);
            parts.Reverse();
        }
        return parts.Cast<object?>().ToList();
    }

    /// <summary>Python's str.splitlines: every line boundary Python knows, optionally keeping it.</summary>
    public static List<string> SplitLines(string s, bool keepEnds)
    {
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c is not ('\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')) continue;
            var end = i;
            if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
            lines.Add(keepEnds ? s[start..(i + 1)] : s[start..end]);
            start = i + 1;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    /// <summary>Python's str.title: a letter after a non-letter is upper-cased, other letters lower-cased.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var previousCased = false;
        foreach (var c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    public static string Justify(string s, long width, char fill, string how)
    {
        var n = Py.CodePointCount(s);
        if (width <= n) return s;
        Py.CheckLength(width);
        var pad = (int)width - n;
        switch (how)
        {
            case "ljust": return s + new string(fill, pad);
            case "rjust": return new string(fill, pad) + s;
            default:
                // CPython's centering puts the odd extra column on the left only when both pad and width are odd.
                var left = pad / 2 + (pad & (int)width & 1);
                return new string(fill, left) + s + new string(fill, pad - left);
        }
    }
}
