using System.Text.Json;
using System.Text.Unicode;

namespace Agora.Formats;

/// <summary>Strict JSON parsing for the formats' JSON parts, every failure a format error naming the file.</summary>
static class FormatJson
{
    /// <summary>
    /// Parses UTF-8 JSON. <paramref name="baseOffset"/> is where the JSON starts in the file (for error offsets).
    /// UTF-8 is checked first: System.Text.Json only notices bad UTF-8 later, when a string is read.
    /// </summary>
    public static JsonDocument Parse(string path, ReadOnlyMemory<byte> utf8, long baseOffset, string what)
    {
        if (!Utf8.IsValid(utf8.Span))
            throw new AgoraFormatException(path, $"{what} is not valid UTF-8");
        try
        {
            return JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            long? at = e.LineNumber == 0 && e.BytePositionInLine is { } p ? baseOffset + p : null;
            throw new AgoraFormatException(path, $"{what} is not valid JSON: {e.Message}", at, e);
        }
    }

    /// <summary>Reads and parses a whole JSON file.</summary>
    public static JsonDocument ReadFile(string path, string what)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgoraException($"{path}: cannot read: {e.Message}", e);
        }
        return Parse(path, bytes, 0, what);
    }

    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };
}
