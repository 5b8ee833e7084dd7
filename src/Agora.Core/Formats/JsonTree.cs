using System.Text.Json;
using System.Text.Json.Nodes;

namespace Agora.Formats;

/// <summary>
/// JSON read into a mutable <see cref="JsonNode"/> tree the way Python's json module reads it: a key given twice
/// keeps its last value (JsonNode.Parse would throw later, on first access). Errors name the origin.
/// </summary>
public static class JsonTree
{
    public static JsonNode? Parse(string text, string origin, bool allowTrailingCommas = false)
    {
        try
        {
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = allowTrailingCommas, MaxDepth = 256 });
            return Build(document.RootElement);
        }
        catch (JsonException e)
        {
            throw new AgoraFormatException(origin, $"not valid JSON: {e.Message}", inner: e);
        }
    }

    static JsonNode? Build(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new JsonObject();
                foreach (var property in element.EnumerateObject()) obj[property.Name] = Build(property.Value);
                return obj;
            case JsonValueKind.Array:
                var array = new JsonArray();
                foreach (var item in element.EnumerateArray()) array.Add(Build(item));
                return array;
            case JsonValueKind.Null:
                return null;
            default:
                return JsonValue.Create(element.Clone());
        }
    }
}
