using System.Buffers.Binary;
using System.Text.Json;
using Agora.Tensors;

namespace Agora.Formats.Safetensors;

/// <summary>
/// A safetensors file opened in place: the header is parsed and checked as strictly as the reference library
/// checks it (tensors tile the data section exactly, no overlap, no hole, no trailing bytes), and tensor data is
/// viewed through a memory map, never copied.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>The reference library's cap on the JSON header.</summary>
    public const long MaxHeaderLength = 100_000_000;

    readonly MappedFile _map;
    readonly Dictionary<string, SafetensorsTensorInfo> _byName;

    public string Path { get; }
    /// <summary>Absolute offset of the data section (8 + header length).</summary>
    public long DataOffset { get; }
    /// <summary>The optional <c>__metadata__</c> string map, in header order.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Tensors in data order (the order they lie in the file).</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    SafetensorsFile(string path, MappedFile map, long dataOffset, IReadOnlyDictionary<string, string> metadata, List<SafetensorsTensorInfo> tensors)
    {
        Path = path;
        _map = map;
        DataOffset = dataOffset;
        Metadata = metadata;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public static SafetensorsFile Open(string path)
    {
        var map = MappedFile.Open(path);
        try
        {
            var (dataOffset, metadata, tensors) = ReadHeader(path, map);
            return new SafetensorsFile(path, map, dataOffset, metadata, tensors);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    public SafetensorsTensorInfo? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The tensor named <paramref name="name"/>, or a format error naming the file and the tensor.</summary>
    public SafetensorsTensorInfo Get(string name) =>
        Find(name) ?? throw new AgoraFormatException(Path, $"no tensor named '{name}'");

    /// <summary>The tensor's bytes in place (little-endian, row-major).</summary>
    public ReadOnlySpan<byte> TensorData(SafetensorsTensorInfo tensor)
    {
        if (tensor.ByteSize > int.MaxValue)
            throw new AgoraException($"{Path}: tensor '{tensor.Name}' is {tensor.ByteSize} bytes, too large for a span; use TensorPointer");
        return _map.Span(DataOffset + tensor.Begin, (int)tensor.ByteSize);
    }

    /// <summary>Pointer to the tensor's first byte inside the memory map; valid until this file is disposed.</summary>
    public byte* TensorPointer(SafetensorsTensorInfo tensor) => _map.At(DataOffset + tensor.Begin);

    public void Dispose() => _map.Dispose();

    static (long, IReadOnlyDictionary<string, string>, List<SafetensorsTensorInfo>) ReadHeader(string path, MappedFile map)
    {
        if (map.Length < 8)
            throw new AgoraFormatException(path, $"file is {map.Length} bytes, too short for the 8-byte header length of a safetensors file");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(map.Span(0, 8));
        if (headerLength > MaxHeaderLength)
            throw new AgoraFormatException(path, $"header length {headerLength} exceeds the {MaxHeaderLength}-byte limit (not a safetensors file?)", 0);
        if ((long)headerLength > map.Length - 8)
            throw new AgoraFormatException(path, $"header length {headerLength} runs past the end of the file ({map.Length} bytes)", 0);
        long dataOffset = 8 + (long)headerLength;

        var document = FormatJson.Parse(path, map.Span(8, (int)headerLength).ToArray(), 8, "header");

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new AgoraFormatException(path, $"header is a JSON {FormatJson.Describe(root.ValueKind)}, expected an object", 8);

            var metadata = new OrderedDictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsTensorInfo>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new AgoraFormatException(path, $"header names '{property.Name}' twice");
                if (property.Name == "__metadata__")
                    ReadMetadata(path, property.Value, metadata);
                else
                    tensors.Add(ReadTensor(path, property.Name, property.Value));
            }

            long dataLength = map.Length - dataOffset;
            CheckTiling(path, tensors, dataLength);
            return (dataOffset, metadata, tensors);
        }
    }

    static void ReadMetadata(string path, JsonElement value, OrderedDictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new AgoraFormatException(path, $"__metadata__ is a JSON {FormatJson.Describe(value.ValueKind)}, expected an object of strings");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new AgoraFormatException(path, $"__metadata__ entry '{entry.Name}' is a JSON {FormatJson.Describe(entry.Value.ValueKind)}, expected a string");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw new AgoraFormatException(path, $"__metadata__ names '{entry.Name}' twice");
        }
    }

    static SafetensorsTensorInfo ReadTensor(string path, string name, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new AgoraFormatException(path, $"tensor '{name}': entry is a JSON {FormatJson.Describe(value.ValueKind)}, expected an object");
        // Fields other than these three are ignored, as the reference library ignores them.
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new AgoraFormatException(path, $"tensor '{name}': missing or non-string 'dtype'");
        var dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDTypeInfo.TryParse(dtypeName, out var dtype))
            throw new AgoraFormatException(path, $"tensor '{name}': unknown dtype '{dtypeName}'");

        var shape = ReadCounts(path, name, value, "shape", expected: null);
        var offsets = ReadCounts(path, name, value, "data_offsets", expected: 2);
        if (offsets[1] < offsets[0])
            throw new AgoraFormatException(path, $"tensor '{name}': data_offsets [{offsets[0]}, {offsets[1]}] end before they begin");

        long elements = 1;
        foreach (var dim in shape)
        {
            if (dim != 0 && elements > long.MaxValue / dim)
                throw new AgoraFormatException(path, $"tensor '{name}': element count of shape [{string.Join(", ", shape)}] overflows");
            elements *= dim;
        }
        long bytes = SafetensorsDTypeInfo.ByteSize(dtype, elements);
        if (bytes < 0)
            throw new AgoraFormatException(path, $"tensor '{name}': {elements} elements of {dtype} are not a whole number of bytes or overflow");
        if (offsets[1] - offsets[0] != bytes)
            throw new AgoraFormatException(path,
                $"tensor '{name}': data_offsets [{offsets[0]}, {offsets[1]}] span {offsets[1] - offsets[0]} bytes but {dtype}[{string.Join(", ", shape)}] needs {bytes}");

        return new SafetensorsTensorInfo { Name = name, DType = dtype, Shape = shape, Begin = offsets[0], ElementCount = elements, ByteSize = bytes };
    }

    static long[] ReadCounts(string path, string name, JsonElement tensor, string field, int? expected)
    {
        if (!tensor.TryGetProperty(field, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new AgoraFormatException(path, $"tensor '{name}': missing or non-array '{field}'");
        int length = array.GetArrayLength();
        if (expected is { } n && length != n)
            throw new AgoraFormatException(path, $"tensor '{name}': '{field}' has {length} entries, expected {n}");
        var values = new long[length];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
                throw new AgoraFormatException(path, $"tensor '{name}': '{field}' entry {item.GetRawText()} is not a non-negative integer");
            values[i++] = v;
        }
        return values;
    }

    /// <summary>Tensors must cover the data section exactly: sorted by offset, each starting where the last ended.</summary>
    static void CheckTiling(string path, List<SafetensorsTensorInfo> tensors, long dataLength)
    {
        tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.ByteSize.CompareTo(b.ByteSize));
        long position = 0;
        foreach (var t in tensors)
        {
            if (t.Begin != position)
            {
                string problem = t.Begin < position ? "overlaps the tensor before it" : $"leaves a hole of {t.Begin - position} bytes before it";
                throw new AgoraFormatException(path, $"tensor '{t.Name}': data_offsets [{t.Begin}, {t.End}] {problem} (expected it to start at {position})");
            }
            position = t.End;
        }
        if (position != dataLength)
        {
            string problem = position > dataLength ? "run past the end of the file" : "leave trailing bytes unaccounted for";
            throw new AgoraFormatException(path, $"tensors cover {position} bytes of data but the data section holds {dataLength}: they {problem}");
        }
    }
}
