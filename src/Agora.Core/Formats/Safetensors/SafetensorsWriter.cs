using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Agora.Formats.Safetensors;

/// <summary>
/// Writes a safetensors file laid out exactly as the reference library lays it out: tensors sorted by
/// descending dtype alignment then by name (ordinal), packed without gaps; compact JSON header with
/// <c>__metadata__</c> first, padded with spaces to a multiple of 8 bytes. Written to a temporary file
/// beside the target and renamed over it, so a reader never sees half a file and a mapped original survives.
/// </summary>
public sealed class SafetensorsWriter
{
    readonly OrderedDictionary<string, string>? _metadata;
    readonly List<Entry> _entries = [];
    readonly HashSet<string> _names = new(StringComparer.Ordinal);

    sealed record Entry(string Name, SafetensorsDType DType, long[] Shape, long ByteSize, Action<Stream> WriteData);

    /// <param name="metadata">The <c>__metadata__</c> map, or null to write none.</param>
    public SafetensorsWriter(IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        if (metadata != null) _metadata = new OrderedDictionary<string, string>(metadata, StringComparer.Ordinal);
    }

    /// <summary>Adds a tensor whose bytes (little-endian, row-major) are in memory.</summary>
    public void Add(string name, SafetensorsDType dtype, IReadOnlyList<long> shape, ReadOnlyMemory<byte> data) =>
        Add(name, dtype, shape, data.Length, stream => stream.Write(data.Span));

    /// <summary>Adds a tensor copied from an open file when the output is written (no copy held in memory).</summary>
    public void Add(SafetensorsFile source, SafetensorsTensorInfo tensor, string? name = null) =>
        Add(name ?? tensor.Name, tensor.DType, tensor.Shape, tensor.ByteSize, stream => CopyMapped(source, tensor, stream));

    /// <summary>
    /// Adds a tensor whose bytes are produced when the output is written: <paramref name="writeData"/> must write
    /// exactly <paramref name="byteSize"/> bytes (large tensors converted on the fly, never held whole).
    /// </summary>
    public void Add(string name, SafetensorsDType dtype, IReadOnlyList<long> shape, long byteSize, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved for the metadata map", nameof(name));
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' added twice", nameof(name));
        long elements = 1;
        foreach (var dim in shape)
        {
            if (dim < 0) throw new ArgumentException($"tensor '{name}': negative dimension {dim}", nameof(shape));
            elements = checked(elements * dim);
        }
        long expected = SafetensorsDTypeInfo.ByteSize(dtype, elements);
        if (expected != byteSize)
            throw new ArgumentException($"tensor '{name}': {byteSize} bytes of data for {dtype}[{string.Join(", ", shape)}], which needs {expected}");
        _entries.Add(new Entry(name, dtype, [.. shape], byteSize, writeData));
    }

    public void Write(string path)
    {
        var ordered = _entries.OrderByDescending(e => e.DType).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
        byte[] header = Header(ordered);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var entry in ordered)
            {
                long start = stream.Position;
                entry.WriteData(stream);
                if (stream.Position - start != entry.ByteSize)
                    throw new InvalidOperationException($"the data source of tensor '{entry.Name}' wrote {stream.Position - start} bytes, not {entry.ByteSize}");
            }
        });
    }

    byte[] Header(List<Entry> ordered)
    {
        var json = new StringBuilder("{");
        if (_metadata != null)
        {
            json.Append("\"__metadata__\":{");
            bool first = true;
            foreach (var (key, value) in _metadata)
            {
                if (!first) json.Append(',');
                first = false;
                AppendString(json, key).Append(':');
                AppendString(json, value);
            }
            json.Append('}');
        }
        long offset = 0;
        foreach (var entry in ordered)
        {
            if (json.Length > 1) json.Append(',');
            AppendString(json, entry.Name).Append(":{\"dtype\":\"").Append(entry.DType).Append("\",\"shape\":[");
            json.AppendJoin(',', entry.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
            json.Append("],\"data_offsets\":[").Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',');
            offset += entry.ByteSize;
            json.Append(offset.ToString(CultureInfo.InvariantCulture)).Append("]}");
        }
        json.Append('}');
        var bytes = Encoding.UTF8.GetBytes(json.ToString());
        int padded = (bytes.Length + 7) / 8 * 8;
        var header = new byte[padded];
        bytes.CopyTo(header, 0);
        header.AsSpan(bytes.Length).Fill((byte)' ');
        return header;
    }

    /// <summary>JSON string escaping as serde_json does it (control characters only; non-ASCII stays UTF-8).</summary>
    static StringBuilder AppendString(StringBuilder json, string text)
    {
        json.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                default:
                    if (c < 0x20) json.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else json.Append(c);
                    break;
            }
        }
        return json.Append('"');
    }

    static unsafe void CopyMapped(SafetensorsFile source, SafetensorsTensorInfo tensor, Stream stream)
    {
        using var view = new UnmanagedMemoryStream(source.TensorPointer(tensor), tensor.ByteSize);
        view.CopyTo(stream, 1 << 20);
    }
}
