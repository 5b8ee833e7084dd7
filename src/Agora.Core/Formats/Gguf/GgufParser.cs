using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using System.Text.Unicode;
using Agora.Tensors;

namespace Agora.Formats.Gguf;

/// <summary>What the header, metadata and tensor infos of a GGUF file say, checked against the file's size.</summary>
internal sealed record GgufLayout(
    uint Version, long Alignment, long DataOffset,
    OrderedDictionary<string, GgufValue> Metadata, List<GgufTensorInfo> Tensors);

/// <summary>
/// Reads the header, metadata and tensor infos of GGUF bytes in place (a memory map or a pinned buffer).
/// Every read is bounds-checked, every count is checked against the bytes left before anything is allocated,
/// and every problem becomes one <see cref="AgoraFormatException"/> naming the byte offset.
/// </summary>
internal sealed unsafe class GgufParser
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const long DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";
    public const int MaxDims = 4;
    // Deep enough for any real file, shallow enough that recursion cannot exhaust the stack.
    public const int MaxArrayDepth = 16;

    readonly byte* _data;
    readonly long _length;
    readonly string _path;
    long _pos;

    GgufParser(byte* data, long length, string path)
    {
        _data = data;
        _length = length;
        _path = path;
    }

    public static GgufLayout Parse(byte* data, long length, string path) => new GgufParser(data, length, path).Parse();

    GgufLayout Parse()
    {
        if (_length < 4 || ReadUInt32() != Magic)
            throw Error("not a GGUF file (the first 4 bytes are not \"GGUF\")", 0);
        long versionAt = _pos;
        uint version = ReadUInt32();
        if (version == 1)
            throw Error("GGUF version 1 (32-bit counts) is not supported; convert the model again with a current llama.cpp", versionAt);
        if (version != 2 && version != 3)
        {
            if (BinaryPrimitives.ReverseEndianness(version) is 2 or 3)
                throw Error("big-endian GGUF files are not supported", versionAt);
            throw Error($"unsupported GGUF version {version} (versions 2 and 3 are supported)", versionAt);
        }

        long tensorCountAt = _pos;
        ulong tensorCount = ReadUInt64();
        long kvCountAt = _pos;
        ulong kvCount = ReadUInt64();
        // Counts are checked against the cheapest possible entries: a key-value takes at least 13 bytes
        // (empty key, type, a uint8), a tensor info 24 (empty name, no dims, type, offset).
        CheckCount(kvCount, 13, "metadata entries", kvCountAt);

        var metadata = new OrderedDictionary<string, GgufValue>((int)Math.Min(kvCount, 4096), StringComparer.Ordinal);
        long alignment = DefaultAlignment;
        for (ulong i = 0; i < kvCount; i++)
        {
            long keyAt = _pos;
            string key = ReadName("a metadata key");
            long valueAt = _pos;
            var value = ReadValue(ReadValueType(), 0);
            if (!metadata.TryAdd(key, value))
                throw Error($"metadata key '{key}' appears twice", keyAt);
            if (key == AlignmentKey)
                alignment = CheckAlignment(value, valueAt);
        }

        CheckCount(tensorCount, 24, "tensors", tensorCountAt);
        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var infoOffsets = new long[(int)tensorCount];
        for (int i = 0; i < (int)tensorCount; i++)
        {
            infoOffsets[i] = _pos;
            var tensor = ReadTensorInfo(alignment);
            if (!names.Add(tensor.Name))
                throw Error($"tensor '{tensor.Name}' appears twice", infoOffsets[i]);
            tensors.Add(tensor);
        }

        long dataOffset = AlignUp(_pos, alignment);
        CheckPlacement(tensors, infoOffsets, dataOffset);
        return new GgufLayout(version, alignment, dataOffset, metadata, tensors);
    }

    GgufTensorInfo ReadTensorInfo(long alignment)
    {
        string name = ReadName("a tensor name");
        long dimsAt = _pos;
        uint nDims = ReadUInt32();
        if (nDims > MaxDims)
            throw Error($"tensor '{name}' has {nDims} dimensions (at most {MaxDims} are allowed)", dimsAt);
        var shape = new long[nDims];
        long elements = 1;
        for (int d = 0; d < shape.Length; d++)
        {
            long dimAt = _pos;
            ulong dim = ReadUInt64();
            if (dim > long.MaxValue)
                throw Error($"tensor '{name}' dimension {d} is {dim}, which is too large", dimAt);
            shape[d] = (long)dim;
            if (dim != 0 && elements > long.MaxValue / (long)dim)
                throw Error($"tensor '{name}' shape [{string.Join(", ", shape.Take(d + 1))}...] has more elements than fit in 64 bits", dimAt);
            elements *= (long)dim;
        }

        long typeAt = _pos;
        uint typeId = ReadUInt32();
        var type = (GgmlType)typeId;
        if (!GgmlTypeInfo.IsKnown(type))
            throw Error($"tensor '{name}' has unknown or retired ggml type id {typeId}", typeAt);
        int block = GgmlTypeInfo.BlockSize(type);
        long rowLength = shape.Length > 0 ? shape[0] : 1;
        if (rowLength % block != 0)
            throw Error($"tensor '{name}' of type {type} has rows of {rowLength} elements, not a multiple of the block size {block}", dimsAt);
        long byteSize = GgmlTypeInfo.ByteSize(type, elements);
        if (byteSize < 0)
            throw Error($"tensor '{name}' of type {type} with {elements} elements is too large", dimsAt);

        long offsetAt = _pos;
        ulong offset = ReadUInt64();
        if (offset > long.MaxValue)
            throw Error($"tensor '{name}' data offset {offset} is outside the file", offsetAt);
        if ((long)offset % alignment != 0)
            throw Error($"tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}", offsetAt);
        return new GgufTensorInfo(name, shape, type, (long)offset, elements, byteSize);
    }

    /// <summary>Every tensor must lie inside the file, and no two may overlap.</summary>
    void CheckPlacement(List<GgufTensorInfo> tensors, long[] infoOffsets, long dataOffset)
    {
        if (tensors.Count == 0) return;
        long available = _length - dataOffset;
        if (available < 0)
            throw Error($"the tensor data section would start at byte {dataOffset}, past the end of the file ({_length} bytes)", _length);
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            if (t.Offset > available || t.ByteSize > available - t.Offset)
                throw Error($"tensor '{t.Name}' data (bytes {dataOffset + t.Offset} to {dataOffset + t.Offset + Math.Min(t.ByteSize, long.MaxValue - dataOffset - t.Offset)}) lies past the end of the file ({_length} bytes)", infoOffsets[i]);
        }
        var order = Enumerable.Range(0, tensors.Count).OrderBy(i => tensors[i].Offset).ToArray();
        for (int k = 1; k < order.Length; k++)
        {
            var previous = tensors[order[k - 1]];
            var t = tensors[order[k]];
            if (previous.Offset + previous.ByteSize > t.Offset)
                throw Error($"tensor '{t.Name}' data overlaps tensor '{previous.Name}'", infoOffsets[order[k]]);
        }
    }

    long CheckAlignment(GgufValue value, long at)
    {
        if (value.Type != GgufValueType.UInt32)
            throw Error($"{AlignmentKey} is a {GgufValue.Name(value.Type)}, it must be a uint32", at);
        uint a = (uint)value.RawBits;
        if (a == 0 || !BitOperations.IsPow2(a))
            throw Error($"{AlignmentKey} is {a}, it must be a power of two", at);
        return a;
    }

    GgufValueType ReadValueType()
    {
        long at = _pos;
        uint type = ReadUInt32();
        if (type > (uint)GgufValueType.Float64)
            throw Error($"unknown metadata value type {type}", at);
        return (GgufValueType)type;
    }

    GgufValue ReadValue(GgufValueType type, int depth) => type switch
    {
        GgufValueType.UInt8 => GgufValue.UInt8(Take(1)[0]),
        GgufValueType.Int8 => GgufValue.Int8((sbyte)Take(1)[0]),
        GgufValueType.UInt16 => GgufValue.UInt16(BinaryPrimitives.ReadUInt16LittleEndian(Take(2))),
        GgufValueType.Int16 => GgufValue.Int16(BinaryPrimitives.ReadInt16LittleEndian(Take(2))),
        GgufValueType.UInt32 => GgufValue.UInt32(ReadUInt32()),
        GgufValueType.Int32 => GgufValue.Int32(BinaryPrimitives.ReadInt32LittleEndian(Take(4))),
        GgufValueType.UInt64 => GgufValue.UInt64(ReadUInt64()),
        GgufValueType.Int64 => GgufValue.Int64(BinaryPrimitives.ReadInt64LittleEndian(Take(8))),
        GgufValueType.Float32 => GgufValue.Float32(BinaryPrimitives.ReadSingleLittleEndian(Take(4))),
        GgufValueType.Float64 => GgufValue.Float64(BinaryPrimitives.ReadDoubleLittleEndian(Take(8))),
        GgufValueType.Bool => GgufValue.Bool(ReadBool()),
        GgufValueType.String => GgufValue.String(ReadString(out var invalidUtf8), invalidUtf8),
        _ => ReadArray(depth),
    };

    GgufValue ReadArray(int depth)
    {
        long at = _pos;
        if (depth >= MaxArrayDepth)
            throw Error($"arrays are nested more than {MaxArrayDepth} deep", at);
        var elementType = ReadValueType();
        long countAt = _pos;
        ulong count = ReadUInt64();
        CheckCount(count, MinimumSize(elementType), $"{GgufValue.Name(elementType)} array elements", countAt);
        int n = (int)count;
        if (elementType == GgufValueType.String)
            return ReadStringArray(n);
        System.Array items = elementType switch
        {
            GgufValueType.UInt8 => ReadPrimitives<byte>(n),
            GgufValueType.Int8 => ReadPrimitives<sbyte>(n),
            GgufValueType.UInt16 => ReadPrimitives<ushort>(n),
            GgufValueType.Int16 => ReadPrimitives<short>(n),
            GgufValueType.UInt32 => ReadPrimitives<uint>(n),
            GgufValueType.Int32 => ReadPrimitives<int>(n),
            GgufValueType.UInt64 => ReadPrimitives<ulong>(n),
            GgufValueType.Int64 => ReadPrimitives<long>(n),
            GgufValueType.Float32 => ReadPrimitives<float>(n),
            GgufValueType.Float64 => ReadPrimitives<double>(n),
            GgufValueType.Bool => ReadMany(n, ReadBool),
            _ => ReadMany(n, () => ReadArray(depth + 1)),
        };
        return GgufValue.TypedArray(elementType, items);
    }

    /// <summary>The items' bytes are copied end to end in a second pass, once the first has checked every length.</summary>
    GgufValue ReadStringArray(int n)
    {
        long first = _pos;
        var ends = new int[n];
        long total = 0;
        for (int i = 0; i < n; i++)
        {
            long at = _pos;
            total += ReadStringBytes().Length;
            if (total > System.Array.MaxLength)
                throw Error($"the array's strings hold more than {System.Array.MaxLength} bytes of text, too many for Agora", at);
            ends[i] = (int)total;
        }
        var bytes = new byte[total];
        long from = first;
        for (int i = 0, start = 0; i < n; start = ends[i++])
        {
            from += sizeof(ulong);
            new ReadOnlySpan<byte>(_data + from, ends[i] - start).CopyTo(bytes.AsSpan(start));
            from += ends[i] - start;
        }
        return GgufValue.StringArray(new GgufStrings(bytes, ends));
    }

    /// <summary>Bytes a value of this type takes at least in the file (exactly, for scalars).</summary>
    internal static int MinimumSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
        _ => 12, // a nested array: element type and count
    };

    static T[] ReadMany<T>(int n, Func<T> read)
    {
        var items = new T[n];
        for (int i = 0; i < n; i++) items[i] = read();
        return items;
    }

    // GGUF is little-endian, as is every platform .NET runs this on.
    T[] ReadPrimitives<T>(int n) where T : unmanaged
    {
        byte* p = Advance((long)n * sizeof(T));
        return new ReadOnlySpan<T>(p, n).ToArray();
    }

    bool ReadBool()
    {
        long at = _pos;
        byte b = Take(1)[0];
        return b switch
        {
            0 => false,
            1 => true,
            _ => throw Error($"a bool holds {b}, not 0 or 1", at),
        };
    }

    /// <summary>Keys and tensor names must be valid UTF-8: they are looked up by their text.</summary>
    string ReadName(string what)
    {
        long at = _pos;
        string text = ReadString(out var invalidUtf8);
        if (invalidUtf8 != null)
            throw Error($"{what} is not valid UTF-8 (\"{text}\")", at);
        return text;
    }

    /// <summary>
    /// A string; when its bytes are not valid UTF-8 (GGUF says they must be, but some writers let raw bytes
    /// through) the text gets U+FFFD for them and <paramref name="invalidUtf8"/> keeps the bytes.
    /// </summary>
    string ReadString(out byte[]? invalidUtf8)
    {
        var bytes = ReadStringBytes();
        invalidUtf8 = Utf8.IsValid(bytes) ? null : bytes.ToArray();
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>A string's bytes, in place.</summary>
    ReadOnlySpan<byte> ReadStringBytes()
    {
        long at = _pos;
        ulong length = ReadUInt64();
        if (length > (ulong)(_length - _pos))
            throw Error($"a string of {length} bytes runs past the end of the file ({_length} bytes)", at);
        if (length > int.MaxValue)
            throw Error($"a string of {length} bytes is too long", at);
        return new ReadOnlySpan<byte>(Advance((long)length), (int)length);
    }

    uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    ReadOnlySpan<byte> Take(int n) => new(Advance(n), n);

    byte* Advance(long n)
    {
        if (n > _length - _pos)
            throw Error($"the file ends after {_length} bytes, {n} more were expected here", _pos);
        byte* p = _data + _pos;
        _pos += n;
        return p;
    }

    /// <summary>Refuses a count that the rest of the file could not hold, before anything is allocated for it.</summary>
    void CheckCount(ulong count, int minimumSize, string what, long at)
    {
        ulong left = (ulong)(_length - _pos);
        if (count > left / (ulong)minimumSize)
            throw Error($"{count} {what} cannot fit in the {left} bytes left in the file", at);
        if (count > (ulong)System.Array.MaxLength)
            throw Error($"{count} {what} are too many", at);
    }

    static long AlignUp(long offset, long alignment) => (offset + alignment - 1) / alignment * alignment;

    AgoraFormatException Error(string problem, long offset) => new(_path, problem, offset);
}
