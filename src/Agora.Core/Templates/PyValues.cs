using System.Collections;

namespace Agora.Templates;

// Template values follow Python's model: null is None, bool, long (int), double (float), string (str), Markup,
// List<object?> (list), PyTuple, PyDict, Undefined, Namespace, PyCallable, LoopContext.
// Values reaching a template are never mutated (the reference runs in an immutable sandbox), so sharing is safe.

/// <summary>Jinja's Undefined: prints empty, is falsy and iterates as empty; most other uses raise.</summary>
internal sealed class Undefined
{
    readonly string? name;
    readonly object? owner;
    readonly bool hasOwner;
    readonly string? hint;
    readonly string errorType;

    Undefined(string? name, object? owner, bool hasOwner, string? hint, string errorType)
    {
        this.name = name; this.owner = owner; this.hasOwner = hasOwner; this.hint = hint; this.errorType = errorType;
    }

    public static Undefined Named(string name) => new(name, null, false, null, "UndefinedError");
    public static Undefined Member(object? owner, object key) =>
        new(key is string s ? s : Py.Repr(key), owner, true, key is string ? null : Py.ObjectTypeRepr(owner) + " has no element " + Py.Repr(key), "UndefinedError");
    public static Undefined WithHint(string hint, string errorType = "UndefinedError") => new(null, null, false, hint, errorType);

    public string Message =>
        hint ?? (hasOwner ? $"'{Py.ObjectTypeRepr(owner)}' has no attribute '{name}'" : $"'{name}' is undefined");

    public TemplateException Fail() => new(errorType, Message);
}

/// <summary>A Python tuple.</summary>
internal sealed class PyTuple(object?[] items) : IReadOnlyList<object?>
{
    public readonly object?[] Items = items;
    public object? this[int index] => Items[index];
    public int Count => Items.Length;
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)Items).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => Items.GetEnumerator();
}

/// <summary>A str that markupsafe marks as safe: adding a plain str to it escapes that str.</summary>
internal sealed class Markup(string value)
{
    public readonly string Value = value;
    public override string ToString() => Value;

    public static string Escape(string s)
    {
        if (s.AsSpan().IndexOfAny("&<>'\"") < 0) return s;
        var sb = new System.Text.StringBuilder(s.Length + 16);
        foreach (var c in s)
            sb.Append(c switch { '&' => "&amp;", '<' => "&lt;", '>' => "&gt;", '\'' => "&#39;", '"' => "&#34;", _ => c.ToString() });
        return sb.ToString();
    }
}

/// <summary>A Python dict: insertion-ordered, keys compared with Python equality.</summary>
internal sealed class PyDict : IEnumerable<KeyValuePair<object?, object?>>
{
    readonly List<KeyValuePair<object?, object?>> entries = new();
    readonly Dictionary<PyKey, int> index = new();

    public int Count => entries.Count;
    public IReadOnlyList<KeyValuePair<object?, object?>> Entries => entries;

    public void Set(object? key, object? value)
    {
        var k = new PyKey(key);
        if (index.TryGetValue(k, out var i)) entries[i] = new(entries[i].Key, value);
        else { index[k] = entries.Count; entries.Add(new(key, value)); }
    }

    public bool TryGet(object? key, out object? value)
    {
        if (Py.IsHashable(key) && index.TryGetValue(new PyKey(key), out var i)) { value = entries[i].Value; return true; }
        value = null;
        return false;
    }

    public bool ContainsKey(object? key) => TryGet(key, out _);
    public IEnumerator<KeyValuePair<object?, object?>> GetEnumerator() => entries.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => entries.GetEnumerator();

    readonly struct PyKey : IEquatable<PyKey>
    {
        readonly object? value;
        public PyKey(object? value)
        {
            if (!Py.IsHashable(value)) throw TemplateException.Type($"unhashable type: '{Py.TypeName(value)}'");
            this.value = value;
        }
        public bool Equals(PyKey other) => Py.Eq(value, other.value);
        public override bool Equals(object? obj) => obj is PyKey k && Equals(k);
        public override int GetHashCode() => Py.Hash(value);
    }
}

/// <summary>Jinja's namespace(): the one object templates may assign attributes on.</summary>
internal sealed class Namespace
{
    public readonly Dictionary<string, object?> Attributes = new();
}

/// <summary>Anything a template can call: globals, macros, bound methods.</summary>
internal abstract class PyCallable
{
    public abstract string Name { get; }
    public abstract object? Call(TemplateRenderer renderer, CallArguments args);
}

internal sealed class BuiltinFunction(string name, Func<TemplateRenderer, CallArguments, object?> body) : PyCallable
{
    public override string Name => name;
    public override object? Call(TemplateRenderer renderer, CallArguments args) => body(renderer, args);
}

/// <summary>Positional and keyword arguments of one call, with Python-style binding helpers.</summary>
internal sealed class CallArguments(List<object?> positional, List<KeyValuePair<string, object?>> keywords)
{
    public static readonly CallArguments Empty = new(new(), new());
    public readonly List<object?> Positional = positional;
    public readonly List<KeyValuePair<string, object?>> Keywords = keywords;

    /// <summary>Binds to a signature: returns the values of <paramref name="names"/> in order (Missing where not given).</summary>
    public object?[] Bind(string function, params string[] names)
    {
        if (Positional.Count > names.Length)
            throw TemplateException.Type($"{function}() takes at most {names.Length} argument(s) ({Positional.Count} given)");
        var values = new object?[names.Length];
        Array.Fill(values, Missing);
        for (var i = 0; i < Positional.Count; i++) values[i] = Positional[i];
        foreach (var (key, value) in Keywords)
        {
            var at = Array.IndexOf(names, key);
            if (at < 0) throw TemplateException.Type($"{function}() got an unexpected keyword argument '{key}'");
            if (!ReferenceEquals(values[at], Missing)) throw TemplateException.Type($"{function}() got multiple values for argument '{key}'");
            values[at] = value;
        }
        return values;
    }

    public static readonly object Missing = new();
}
