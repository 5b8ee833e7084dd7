using System.Text.Json;

namespace Agora.Formats.HuggingFace;

/// <summary>
/// Typed access to the fields of a JSON object from a config file. A field that is absent or null takes the
/// caller's default (transformers treats both alike); a field of the wrong type is a format error naming the key.
/// </summary>
sealed class JsonFields(string path, JsonElement obj, string prefix = "")
{
    public string Path => path;

    /// <summary>The fields of a parsed document, which must be a JSON object.</summary>
    public static JsonFields Root(string path, JsonDocument document) =>
        document.RootElement.ValueKind == JsonValueKind.Object
            ? new JsonFields(path, document.RootElement)
            : throw new AgoraFormatException(path, $"expected a JSON object, found a JSON {FormatJson.Describe(document.RootElement.ValueKind)}");

    public bool Has(string key) => obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    public bool IsExplicitNull(string key) => obj.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Null;

    /// <summary>The first of <paramref name="keys"/> present (BLOOM spells some fields two ways).</summary>
    public string? FirstPresent(params string[] keys) => keys.FirstOrDefault(Has);

    public JsonElement? Get(string key) =>
        obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public AgoraFormatException Error(string key, string problem) => new(path, $"'{prefix}{key}' {problem}");

    public long? Int64(string key)
    {
        if (Get(key) is not { } v) return null;
        // Integral floats (2048.0) are accepted: Python writes them for values computed in float.
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt64(out long n)) return n;
            if (v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) return (long)d;
        }
        throw Error(key, $"is {Show(v)}, expected an integer");
    }

    /// <summary>A count or size: a positive integer below 2^31.</summary>
    public int? Count(string key)
    {
        if (Int64(key) is not { } n) return null;
        if (n <= 0 || n > int.MaxValue) throw Error(key, $"is {n}, expected a positive integer below 2^31");
        return (int)n;
    }

    public int RequiredCount(string key, int? fallback = null) =>
        Count(key) ?? fallback ?? throw Error(key, "is missing");

    public double? Double(string key)
    {
        if (Get(key) is not { } v) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d)) return d;
        throw Error(key, $"is {Show(v)}, expected a number");
    }

    public bool? Bool(string key)
    {
        if (Get(key) is not { } v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(key, $"is {Show(v)}, expected true or false"),
        };
    }

    public string? String(string key)
    {
        if (Get(key) is not { } v) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error(key, $"is {Show(v)}, expected a string");
    }

    /// <summary>Token ids given as one integer or a list of integers (eos_token_id often is a list).</summary>
    public int[] Ids(string key)
    {
        if (Get(key) is not { } v) return [];
        if (v.ValueKind == JsonValueKind.Array)
        {
            var ids = new int[v.GetArrayLength()];
            int i = 0;
            foreach (var item in v.EnumerateArray())
                ids[i++] = item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out int id) && id >= 0
                    ? id
                    : throw Error(key, $"holds {Show(item)}, expected token ids");
            return ids;
        }
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int single) && single >= 0) return [single];
        throw Error(key, $"is {Show(v)}, expected a token id or a list of them");
    }

    public string[] Strings(string key)
    {
        if (Get(key) is not { } v) return [];
        if (v.ValueKind != JsonValueKind.Array) throw Error(key, $"is {Show(v)}, expected a list of strings");
        return [.. v.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw Error(key, $"holds {Show(x)}, expected strings"))];
    }

    /// <summary>A nested object, or null when absent.</summary>
    public JsonFields? Object(string key)
    {
        if (Get(key) is not { } v) return null;
        return v.ValueKind == JsonValueKind.Object
            ? new JsonFields(path, v, $"{prefix}{key}.")
            : throw Error(key, $"is {Show(v)}, expected an object");
    }

    static string Show(JsonElement v)
    {
        var raw = v.GetRawText();
        return raw.Length <= 40 ? $"{FormatJson.Describe(v.ValueKind)} {raw}" : $"a JSON {FormatJson.Describe(v.ValueKind)}";
    }
}
