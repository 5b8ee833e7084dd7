using System.Collections.ObjectModel;
using System.Runtime.InteropServices;
using Agora.Tensors;

namespace Agora.Formats.Gguf;

/// <summary>
/// An open GGUF file (versions 2 and 3, little-endian): its metadata, its tensor infos, and its tensor data
/// viewed in place through a memory map. Opening reads only the header; tensor bytes are paged in on first touch.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    readonly MappedFile? _map;
    GCHandle _pinned; // holds a byte buffer in place when opened from memory
    byte* _data;
    readonly long _length;
    readonly Dictionary<string, GgufTensorInfo> _tensorsByName;

    public string Path { get; }
    public uint Version { get; }
    public long Alignment { get; }

    /// <summary>Absolute byte offset of the tensor data section; tensor offsets are relative to it.</summary>
    public long DataOffset { get; }

    /// <summary>All metadata, enumerated in file order.</summary>
    public IReadOnlyDictionary<string, GgufValue> Metadata { get; }

    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    GgufFile(string path, byte* data, long length, MappedFile? map, GCHandle pinned)
    {
        Path = path;
        _data = data;
        _length = length;
        _map = map;
        _pinned = pinned;
        var layout = GgufParser.Parse(data, length, path);
        Version = layout.Version;
        Alignment = layout.Alignment;
        DataOffset = layout.DataOffset;
        Metadata = new ReadOnlyDictionary<string, GgufValue>(layout.Metadata);
        Tensors = layout.Tensors.AsReadOnly();
        _tensorsByName = layout.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Whether the file starts with the GGUF magic: how Agora tells a GGUF file from anything else.</summary>
    public static bool HasMagic(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        try
        {
            using var stream = File.OpenRead(path);
            return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgoraException($"{path}: cannot open: {e.Message}", e);
        }
    }

    public static GgufFile Open(string path)
    {
        var map = MappedFile.Open(path);
        try
        {
            return new GgufFile(path, map.Length == 0 ? null : map.At(0), map.Length, map, default);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>Parses GGUF bytes held in memory (tests, embedded files); <paramref name="name"/> stands for the path in messages.</summary>
    internal static GgufFile FromBytes(byte[] bytes, string name)
    {
        var handle = GCHandle.Alloc(bytes, GCHandleType.Pinned);
        try
        {
            return new GgufFile(name, (byte*)handle.AddrOfPinnedObject(), bytes.Length, null, handle);
        }
        catch
        {
            handle.Free();
            throw;
        }
    }

    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    public bool TryGetValue(string key, out GgufValue value) => Metadata.TryGetValue(key, out value!);

    public string GetString(string key) => Get(key, v => v.AsString());
    public long GetInt64(string key) => Get(key, v => v.AsInt64());
    public double GetDouble(string key) => Get(key, v => v.AsDouble());
    public bool GetBool(string key) => Get(key, v => v.AsBool());
    public string[] GetStringArray(string key) => Get(key, v => v.AsStringArray());
    /// <summary>An array of strings as held, for reading a few items of a big one.</summary>
    internal GgufStrings GetStrings(string key) => Get(key, v => v.Strings);
    public float[] GetFloat32Array(string key) => Get(key, v => v.AsFloat32Array());
    public int[] GetInt32Array(string key) => Get(key, v => v.AsInt32Array());

    T Get<T>(string key, Func<GgufValue, T> read)
    {
        if (!TryGetValue(key, out var value))
            throw new AgoraFormatException(Path, $"metadata key '{key}' is missing");
        try
        {
            return read(value);
        }
        catch (AgoraException e)
        {
            throw new AgoraFormatException(Path, $"metadata key '{key}': {e.Message}", inner: e);
        }
    }

    /// <summary>The tensor's bytes in place. Tensors over 2 GiB do not fit a span: use <see cref="TensorPointer"/>.</summary>
    public ReadOnlySpan<byte> TensorData(GgufTensorInfo t)
    {
        if (t.ByteSize > int.MaxValue)
            throw new AgoraException($"{Path}: tensor '{t.Name}' has {t.ByteSize} bytes, too many for a span; read it through TensorPointer");
        return new ReadOnlySpan<byte>(TensorPointer(t), (int)t.ByteSize);
    }

    /// <summary>Pointer to the tensor's first byte; valid until this file is disposed.</summary>
    public byte* TensorPointer(GgufTensorInfo t)
    {
        ObjectDisposedException.ThrowIf(_data == null && _length != 0, this);
        if (!ReferenceEquals(FindTensor(t.Name), t))
            throw new ArgumentException($"tensor '{t.Name}' does not belong to {Path}", nameof(t));
        return _data + DataOffset + t.Offset;
    }

    public void Dispose()
    {
        _data = null;
        _map?.Dispose();
        if (_pinned.IsAllocated) _pinned.Free();
    }
}
