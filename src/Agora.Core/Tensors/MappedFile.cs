using System.IO.MemoryMappedFiles;

namespace Agora.Tensors;

/// <summary>
/// A read-only memory map of a whole file. Tensor data is viewed in place through it, never copied on open:
/// the operating system pages weights in on first touch and may drop them under memory pressure.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    readonly MemoryMappedFile? _map;
    readonly MemoryMappedViewAccessor? _view;
    byte* _pointer;

    public string Path { get; }
    public long Length { get; }

    MappedFile(string path, long length, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* pointer)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        _pointer = pointer;
    }

    public static MappedFile Open(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgoraException($"{path}: cannot open: {e.Message}", e);
        }
        long length = stream.Length;
        if (length == 0)
        {
            // An empty file cannot be mapped; it is still a valid (empty) view.
            stream.Dispose();
            return new MappedFile(path, 0, null, null, null);
        }
        var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        p += view.PointerOffset;
        return new MappedFile(path, length, map, view, p);
    }

    /// <summary>Pointer to the byte at <paramref name="offset"/>; the caller has checked the range.</summary>
    public byte* At(long offset)
    {
        ObjectDisposedException.ThrowIf(_pointer == null && Length != 0, this);
        return _pointer + offset;
    }

    /// <summary>A span over [offset, offset+length), checked against the file size.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, +{length}) is outside {Path} ({Length} bytes)");
        return length == 0 ? default : new ReadOnlySpan<byte>(At(offset), length);
    }

    public void Dispose()
    {
        if (_view != null && _pointer != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
