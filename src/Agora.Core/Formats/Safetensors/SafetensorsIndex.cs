using System.Text.Json;

namespace Agora.Formats.Safetensors;

/// <summary>
/// <c>model.safetensors.index.json</c>: which shard file holds each tensor of a sharded checkpoint
/// (<c>weight_map</c>: tensor name → file name in the same folder).
/// </summary>
public static class SafetensorsIndex
{
    public const string FileName = "model.safetensors.index.json";

    /// <summary>The weight map, with every shard name checked to be a plain file name in the index's folder.</summary>
    public static IReadOnlyDictionary<string, string> Read(string path)
    {
        var document = FormatJson.ReadFile(path, "index");
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new AgoraFormatException(path, "expected a JSON object with a 'weight_map' object");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new AgoraFormatException(path, $"weight_map entry '{entry.Name}' is a JSON {FormatJson.Describe(entry.Value.ValueKind)}, expected a file name");
                var shard = entry.Value.GetString()!;
                if (shard.Length == 0 || shard is "." or ".." || shard.IndexOfAny(['/', '\\', ':', '\0']) >= 0)
                    throw new AgoraFormatException(path, $"weight_map entry '{entry.Name}' names '{shard}', which is not a file name in the index's folder");
                if (!result.TryAdd(entry.Name, shard))
                    throw new AgoraFormatException(path, $"weight_map names '{entry.Name}' twice");
            }
            return result;
        }
    }

    /// <summary>Writes an index as transformers does: metadata.total_size and the weight map, keys sorted, indented.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, string>> weightMap, long totalSize)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", totalSize);
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (var (name, shard) in weightMap.OrderBy(p => p.Key, StringComparer.Ordinal))
                json.WriteString(name, shard);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        AtomicFile.Write(path, buffer.ToArray());
    }
}
