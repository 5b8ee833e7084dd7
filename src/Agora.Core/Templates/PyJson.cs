using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Agora.Templates;

/// <summary>JSON in and out: template inputs from System.Text.Json, and Python's json.dumps for the tojson filter.</summary>
internal static class PyJson
{
    /// <summary>A JSON value as Python's json.loads would give it (object → dict, integer → int, other number → float).</summary>
    public static object? FromNode(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => Dict(o.Select(p => (p.Key, FromNode(p.Value)))),
        JsonArray a => a.Select(FromNode).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => Number(v.ToJsonString()),
            _ => null,
        },
        _ => null,
    };

    public static object? FromElement(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => Dict(e.EnumerateObject().Select(p => (p.Name, FromElement(p.Value)))),
        JsonValueKind.Array => e.EnumerateArray().Select(FromElement).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Number => Number(e.GetRawText()),
        _ => null,
    };

    static object Number(string raw) =>
        raw.AsSpan().IndexOfAny(".eE") < 0 && long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)
            ? (object)l
            : double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);

    static PyDict Dict(IEnumerable<(string Key, object? Value)> pairs)
    {
        var d = new PyDict();
        foreach (var (k, v) in pairs) d.Set(k, v);
        return d;
    }

    /// <summary>json.dumps(value, ensure_ascii, indent, separators, sort_keys).</summary>
    public static string Dumps(object? value, bool ensureAscii, object? indent, object? separators, bool sortKeys)
    {
        string? indentText = indent switch
        {
            null => null,
            string or Markup => Py.AsString(indent),
            long or bool => new string(' ', (int)Math.Clamp(Py.ToLong(indent), 0, 1024)),
            _ => throw TemplateException.Type($"can't multiply sequence by non-int of type '{Py.TypeName(indent)}'"),
        };
        string itemSep = indentText is null ? ", " : ",", keySep = ": ";
        if (separators is not null)
        {
            var parts = Py.Iterate(separators);
            if (parts.Count != 2) throw TemplateException.Value($"not enough values to unpack (expected 2, got {parts.Count})");
            itemSep = Py.AsString(parts[0]) ?? throw TemplateException.Type("separators must be strings");
            keySep = Py.AsString(parts[1]) ?? throw TemplateException.Type("separators must be strings");
        }
        var sb = new StringBuilder();
        new Writer(sb, ensureAscii, indentText, itemSep, keySep, sortKeys).Write(value, 0);
        return sb.ToString();
    }

    sealed class Writer(StringBuilder sb, bool ensureAscii, string? indent, string itemSep, string keySep, bool sortKeys)
    {
        public void Write(object? v, int level)
        {
            if (level > 500) throw new TemplateException("RecursionError", "maximum recursion depth exceeded while encoding a JSON object");
            Py.CheckLength(sb.Length);
            switch (v)
            {
                case null: sb.Append("null"); break;
                case bool b: sb.Append(b ? "true" : "false"); break;
                case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case double d: sb.Append(Float(d)); break;
                case string or Markup: WriteString(Py.AsString(v)!); break;
                case List<object?> or PyTuple:
                    var items = (IReadOnlyList<object?>)v;
                    if (items.Count == 0) { sb.Append("[]"); break; }
                    sb.Append('[');
                    for (var i = 0; i < items.Count; i++)
                    {
                        if (i > 0) sb.Append(itemSep);
                        NewLine(level + 1);
                        Write(items[i], level + 1);
                    }
                    NewLine(level);
                    sb.Append(']');
                    break;
                case PyDict d:
                    if (d.Count == 0) { sb.Append("{}"); break; }
                    var entries = d.Entries.Select(e => (Key: Key(e.Key), e.Value)).ToList();
                    if (sortKeys) entries = entries.OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
                    sb.Append('{');
                    for (var i = 0; i < entries.Count; i++)
                    {
                        if (i > 0) sb.Append(itemSep);
                        NewLine(level + 1);
                        WriteString(entries[i].Key);
                        sb.Append(keySep);
                        Write(entries[i].Value, level + 1);
                    }
                    NewLine(level);
                    sb.Append('}');
                    break;
                default: throw TemplateException.Type($"Object of type {Py.TypeName(v)} is not JSON serializable");
            }
        }

        static string Float(double d) =>
            double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : Py.FloatRepr(d);

        static string Key(object? k) => k switch
        {
            string or Markup => Py.AsString(k)!,
            null => "null",
            bool b => b ? "true" : "false",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => Float(d),
            _ => throw TemplateException.Type($"keys must be str, int, float, bool or None, not {Py.TypeName(k)}"),
        };

        void NewLine(int level)
        {
            if (indent is null) return;
            sb.Append('\n');
            for (var i = 0; i < level; i++) sb.Append(indent);
        }

        void WriteString(string s)
        {
            sb.Append('"');
            foreach (var c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    default:
                        if (c < 0x20 || (ensureAscii && c > 0x7e)) sb.Append("\\u").Append(((int)c).ToString("x4"));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }
    }
}
