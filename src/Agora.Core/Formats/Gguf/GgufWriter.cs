using System.Buffers;
using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using Agora.Tensors;

namespace Agora.Formats.Gguf;

/// <summary>
/// Builds a GGUF file: metadata in the order given, then tensor infos, padding to the alignment, and the tensor
/// data, each tensor padded to the alignment (the layout llama.cpp writes and requires). Tensor bytes are streamed
/// from their source when the file is written, so nothing needs to be in memory at once. The file is written to a
/// temporary file beside the target and renamed into place, so a failed write leaves an existing target untouched.
/// </summary>
public sealed unsafe class GgufWriter
{
    /// <summary>Writes exactly the tensor's byte size to the stream.</summary>
    public delegate void TensorDataWriter(Stream destination);

    sealed record PendingTensor(string Name, GgmlType Type, long[] Shape, long ByteSize, TensorDataWriter Write);

    readonly OrderedDictionary<string, GgufValue> _metadata = new(StringComparer.Ordinal);
    readonly ReadOnlyDictionary<string, GgufValue> _metadataView;
    readonly List<PendingTensor> _tensors = [];
    readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    /// <summary>
    /// The version of the quantized block formats (ggml's GGML_QNT_VERSION) that llama.cpp's writers record as
    /// <c>general.quantization_version</c>, in models and adapters alike.
    /// </summary>
    public const uint QuantizationVersion = 2;

    public uint Version { get; }

    /// <param name="version">3 (the current version) or 2 (same layout, for older readers).</param>
    public GgufWriter(uint version = 3)
    {
        if (version is not (2 or 3))
            throw new ArgumentOutOfRangeException(nameof(version), $"GGUF version {version} cannot be written (2 or 3)");
        Version = version;
        _metadataView = new(_metadata);
    }

    /// <summary>A writer holding all metadata and tensors of <paramref name="source"/>, which must stay open until written.</summary>
    public static GgufWriter From(GgufFile source)
    {
        var writer = new GgufWriter(source.Version);
        foreach (var (key, value) in source.Metadata) writer.Add(key, value);
        foreach (var t in source.Tensors) writer.AddTensor(source, t);
        return writer;
    }

    /// <summary>The metadata so far, in the order it will be written.</summary>
    public IReadOnlyDictionary<string, GgufValue> Metadata => _metadataView;

    public int TensorCount => _tensors.Count;

    /// <summary>The alignment that <see cref="Write"/> will use: general.alignment when set, else 32.</summary>
    public long Alignment
    {
        get
        {
            if (!_metadata.TryGetValue(GgufParser.AlignmentKey, out var value)) return GgufParser.DefaultAlignment;
            if (value.Type != GgufValueType.UInt32 || !BitOperations.IsPow2((uint)value.RawBits))
                throw new ArgumentException($"{GgufParser.AlignmentKey} must be a uint32 power of two, not {value} ({GgufValue.Name(value.Type)})");
            return (uint)value.RawBits;
        }
    }

    /// <summary>Appends a metadata entry; the key must be new.</summary>
    public void Add(string key, GgufValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!_metadata.TryAdd(key, value))
            throw new ArgumentException($"metadata key '{key}' is already set", nameof(key));
    }

    /// <summary>Replaces an entry in place, keeping its position, or appends a new one.</summary>
    public void Set(string key, GgufValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _metadata[key] = value;
    }

    public bool Remove(string key) => _metadata.Remove(key);

    /// <summary>A tensor whose bytes are in memory; the memory must stay unchanged until written.</summary>
    public void AddTensor(string name, GgmlType type, ReadOnlySpan<long> shape, ReadOnlyMemory<byte> data)
    {
        long size = CheckTensor(name, type, shape, data.Length);
        AddPending(name, type, shape, size, s => s.Write(data.Span));
    }

    /// <summary>A tensor whose bytes are at a pointer (a memory map, native memory) that stays valid until written.</summary>
    public void AddTensor(string name, GgmlType type, ReadOnlySpan<long> shape, byte* data, long length)
    {
        long size = CheckTensor(name, type, shape, length);
        nint address = (nint)data;
        AddPending(name, type, shape, size, s => WritePointer(s, (byte*)address, size));
    }

    /// <summary>A tensor whose bytes are produced while writing: <paramref name="write"/> must write exactly its byte size.</summary>
    public void AddTensor(string name, GgmlType type, ReadOnlySpan<long> shape, TensorDataWriter write)
    {
        ArgumentNullException.ThrowIfNull(write);
        long size = CheckTensor(name, type, shape, null);
        AddPending(name, type, shape, size, write);
    }

    /// <summary>A tensor of an open GGUF file (under its own name unless <paramref name="name"/> is given), copied from its memory map.</summary>
    public void AddTensor(GgufFile source, GgufTensorInfo tensor, string? name = null) =>
        AddTensor(name ?? tensor.Name, tensor.Type, tensor.Shape, source.TensorPointer(tensor), tensor.ByteSize);

    void AddPending(string name, GgmlType type, ReadOnlySpan<long> shape, long size, TensorDataWriter write)
    {
        _tensors.Add(new PendingTensor(name, type, shape.ToArray(), size, write));
        _tensorNames.Add(name);
    }

    /// <summary>Checks a tensor the way the reader will, and returns its byte size.</summary>
    long CheckTensor(string name, GgmlType type, ReadOnlySpan<long> shape, long? length)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_tensorNames.Contains(name))
            throw new ArgumentException($"tensor '{name}' is already added", nameof(name));
        if (!GgmlTypeInfo.IsKnown(type))
            throw new ArgumentException($"tensor '{name}' has unknown ggml type id {(uint)type}", nameof(type));
        if (shape.Length > GgufParser.MaxDims)
            throw new ArgumentException($"tensor '{name}' has {shape.Length} dimensions (at most {GgufParser.MaxDims})", nameof(shape));
        long elements = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}' has a negative dimension", nameof(shape));
            if (d != 0 && elements > long.MaxValue / d) throw new ArgumentException($"tensor '{name}' is too large", nameof(shape));
            elements *= d;
        }
        long row = shape.Length > 0 ? shape[0] : 1;
        if (row % GgmlTypeInfo.BlockSize(type) != 0)
            throw new ArgumentException($"tensor '{name}' rows of {row} elements are not a multiple of the {type} block size {GgmlTypeInfo.BlockSize(type)}", nameof(shape));
        long size = GgmlTypeInfo.ByteSize(type, elements);
        if (size < 0) throw new ArgumentException($"tensor '{name}' is too large", nameof(shape));
        if (length is { } n && n != size)
            throw new ArgumentException($"tensor '{name}' ({type} [{string.Join(", ", shape.ToArray())}]) takes {size} bytes, but {n} were given", nameof(length));
        return size;
    }

    /// <summary>Writes the file atomically: to a temporary file beside <paramref name="path"/>, then renamed over it.</summary>
    public void Write(string path)
    {
        long alignment = Alignment; // refuse a bad alignment before touching the disk
        AtomicFile.Write(path, stream => WriteTo(stream, alignment));
    }

    /// <summary>The whole file as bytes (small files: tests, embedded data).</summary>
    internal byte[] ToBytes()
    {
        var stream = new MemoryStream();
        WriteTo(stream, Alignment);
        return stream.ToArray();
    }

    void WriteTo(Stream stream, long alignment)
    {
        var output = new Output(stream);
        output.UInt32(GgufParser.Magic);
        output.UInt32(Version);
        output.UInt64((ulong)_tensors.Count);
        output.UInt64((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            output.String(key, null);
            output.UInt32((uint)value.Type);
            output.Value(value);
        }

        long offset = 0;
        foreach (var t in _tensors)
        {
            output.String(t.Name, null);
            output.UInt32((uint)t.Shape.Length);
            foreach (long d in t.Shape) output.UInt64((ulong)d);
            output.UInt32((uint)t.Type);
            output.UInt64((ulong)offset);
            offset = AlignUp(offset + t.ByteSize, alignment);
        }
        // A file without tensors ends here, as llama.cpp's and gguf-py's writers leave it.
        if (_tensors.Count == 0) return;

        output.Pad(alignment);
        foreach (var t in _tensors)
        {
            long start = stream.Position;
            t.Write(stream);
            if (stream.Position - start != t.ByteSize)
                throw new InvalidOperationException($"the data source of tensor '{t.Name}' wrote {stream.Position - start} bytes, not {t.ByteSize}");
            output.Pad(alignment);
        }
    }

    static void WritePointer(Stream stream, byte* data, long length)
    {
        // Spans hold at most 2 GiB; big tensors go in slices.
        const int Slice = 1 << 30;
        for (long done = 0; done < length; done += Slice)
            stream.Write(new ReadOnlySpan<byte>(data + done, (int)Math.Min(Slice, length - done)));
    }

    static long AlignUp(long offset, long alignment) => (offset + alignment - 1) / alignment * alignment;

    /// <summary>Little-endian primitives, strings and values onto a stream.</summary>
    readonly struct Output(Stream stream)
    {
        public void UInt32(uint v)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, v);
            stream.Write(b);
        }

        public void UInt64(ulong v)
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(b, v);
            stream.Write(b);
        }

        /// <summary>A string as UTF-8, or as the bytes it was read from when those were not valid UTF-8.</summary>
        public void String(string s, byte[]? invalidUtf8)
        {
            if (invalidUtf8 != null)
            {
                Utf8String(invalidUtf8);
                return;
            }
            int n = Encoding.UTF8.GetByteCount(s);
            UInt64((ulong)n);
            var buffer = ArrayPool<byte>.Shared.Rent(n);
            Encoding.UTF8.GetBytes(s, buffer);
            stream.Write(buffer, 0, n);
            ArrayPool<byte>.Shared.Return(buffer);
        }

        void Utf8String(ReadOnlySpan<byte> bytes)
        {
            UInt64((ulong)bytes.Length);
            stream.Write(bytes);
        }

        public void Pad(long alignment)
        {
            Span<byte> zeros = stackalloc byte[256];
            zeros.Clear();
            for (long n = AlignUp(stream.Position, alignment) - stream.Position; n > 0; n -= zeros.Length)
                stream.Write(zeros[..(int)Math.Min(n, zeros.Length)]);
        }

        public void Value(GgufValue value)
        {
            switch (value.Type)
            {
                case GgufValueType.String:
                    String(value.AsString(), value.InvalidUtf8);
                    break;
                case GgufValueType.Array:
                    Array(value);
                    break;
                default:
                    Span<byte> b = stackalloc byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(b, value.RawBits);
                    stream.Write(b[..GgufParser.MinimumSize(value.Type)]);
                    break;
            }
        }

        void Array(GgufValue value)
        {
            UInt32((uint)value.ElementType);
            UInt64((ulong)value.Count);
            if (value.ElementType == GgufValueType.String)
            {
                var strings = value.Strings;
                for (int i = 0; i < strings.Count; i++) Utf8String(strings.Utf8(i));
                return;
            }
            var items = value.RawArray;
            switch (items)
            {
                case GgufValue[] arrays:
                    foreach (var a in arrays) Array(a);
                    break;
                case bool[] bools:
                    foreach (bool x in bools) stream.WriteByte(x ? (byte)1 : (byte)0);
                    break;
                default:
                    // Scalar arrays are held as their .NET primitive arrays, whose bytes are the file's bytes.
                    var bytes = MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetArrayDataReference(items),
                        items.Length * GgufParser.MinimumSize(value.ElementType));
                    stream.Write(bytes);
                    break;
            }
        }
    }
}
