using System.Text;
using System.Text.Json;

namespace Agora.Training.Data;

/// <summary>One JSON object of a training file and where it stood: a JSONL line, or an item of a JSON array.</summary>
public sealed record DatasetRecord(JsonElement Value, string Where);

/// <summary>
/// Reads a training file as JSON records: one JSON array of objects, or JSON Lines (one object a line, blank lines
/// skipped). A line that is not a JSON object is an error naming the file and line, or is skipped and counted.
/// </summary>
public static class DatasetFile
{
    public static List<DatasetRecord> Read(string path, bool skipMalformed, out int skipped)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgoraException($"{path}: cannot read the training data: {e.Message}", e);
        }
        skipped = 0;
        var text = new UTF8Encoding(false, true);
        int start = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        int first = start;
        while (first < bytes.Length && bytes[first] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') first++;
        if (first == bytes.Length) throw new AgoraFormatException(path, "holds no training examples");
        return bytes[first] == (byte)'['
            ? ReadArray(path, bytes.AsMemory(start), skipMalformed, ref skipped)
            : ReadLines(path, bytes.AsMemory(start), skipMalformed, ref skipped);
    }

    static List<DatasetRecord> ReadArray(string path, ReadOnlyMemory<byte> bytes, bool skipMalformed, ref int skipped)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 }); }
        catch (JsonException e)
        {
            throw new AgoraFormatException(path, $"line {(e.LineNumber ?? 0) + 1}: not valid JSON ({e.Message})");
        }
        var records = new List<DatasetRecord>();
        int index = 0;
        foreach (var item in document.RootElement.EnumerateArray())
        {
            index++;
            if (item.ValueKind == JsonValueKind.Object) records.Add(new DatasetRecord(item, $"item {index}"));
            else if (skipMalformed) skipped++;
            else throw new AgoraFormatException(path, $"item {index} of the array is a JSON {Kind(item.ValueKind)}, not an object");
        }
        return records;
    }

    static List<DatasetRecord> ReadLines(string path, ReadOnlyMemory<byte> bytes, bool skipMalformed, ref int skipped)
    {
        var records = new List<DatasetRecord>();
        int line = 0, position = 0;
        var span = bytes.Span;
        while (position < span.Length)
        {
            line++;
            int end = span[position..].IndexOf((byte)'\n');
            int length = end < 0 ? span.Length - position : end;
            var content = bytes.Slice(position, length);
            position += length + 1;
            if (content.Span.Trim(" \t\r"u8).IsEmpty) continue;
            string? problem;
            try
            {
                var document = JsonDocument.Parse(content, new JsonDocumentOptions { MaxDepth = 64 });
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    records.Add(new DatasetRecord(document.RootElement, $"line {line}"));
                    continue;
                }
                problem = $"a JSON {Kind(document.RootElement.ValueKind)}, not an object";
            }
            catch (JsonException e) { problem = $"not valid JSON ({e.Message})"; }
            if (skipMalformed) skipped++;
            else throw new AgoraFormatException(path, $"line {line}: {problem} (use --skip-bad-lines to skip such lines)");
        }
        if (records.Count == 0 && skipped == 0) throw new AgoraFormatException(path, "holds no training examples");
        return records;
    }

    static string Kind(JsonValueKind kind) => kind.ToString().ToLowerInvariant();
}
