using System.Text.Json;

namespace Agora.Conversion;

/// <summary>
/// Reading the JSON files of a Hugging Face folder as llama.cpp's converter reads them (Python's <c>dict.get</c>): a
/// member that is absent or null is missing alike, and a flag of the wrong type counts as unset.
/// </summary>
static class HfJson
{
    public static JsonElement? Member(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public static JsonElement Object(string path, JsonElement e, string what) =>
        e.ValueKind == JsonValueKind.Object ? e : throw new AgoraFormatException(path, $"{what} is not a JSON object");

    public static string? String(string path, JsonElement obj, string name) => Member(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        var other => throw new AgoraFormatException(path, $"'{name}' is {other.Value.GetRawText()}, not a string"),
    };

    public static bool Bool(JsonElement obj, string name, bool fallback = false) => Member(obj, name) switch
    {
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => fallback,
    };
}
