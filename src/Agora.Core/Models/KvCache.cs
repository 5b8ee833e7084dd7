using System.Runtime.InteropServices;

namespace Agora.Models;

/// <summary>
/// The keys and values of one sequence, per layer, float32: row p of a layer holds position p's
/// KvHeads × HeadDim keys (or values). Memory grows with the sequence (doubling, up to the context length), so a
/// session over a long-context model costs what it uses.
/// </summary>
/// <remarks>
/// The rows live in native memory grown by realloc: a large block grows in place or is remapped, never copied into
/// a second array, and nothing is left behind for the garbage collector (managed arrays would leave the old
/// capacity resident until a full collection: up to half the cache again). Freed when the cache is collected.
/// </remarks>
public sealed unsafe class KvCache
{
    readonly float*[] _keys;
    readonly float*[] _values;

    public int LayerCount => _keys.Length;
    /// <summary>Floats per position per layer: KV heads × head dim.</summary>
    public int RowLength { get; }
    /// <summary>The most positions the cache may hold.</summary>
    public int ContextLength { get; }
    /// <summary>Positions the current allocation holds.</summary>
    public int Capacity { get; private set; }

    public KvCache(int layerCount, int rowLength, int contextLength)
    {
        if (layerCount <= 0 || rowLength <= 0 || contextLength <= 0)
            throw new ArgumentException($"layers {layerCount}, row length {rowLength} and context {contextLength} must be positive");
        if ((long)rowLength * contextLength > Array.MaxLength)
            throw new AgoraException($"a KV cache of {contextLength} positions × {rowLength} values per layer is too large; ask for a shorter context");
        RowLength = rowLength;
        ContextLength = contextLength;
        _keys = new float*[layerCount];
        _values = new float*[layerCount];
    }

    ~KvCache()
    {
        // A constructor that threw leaves nothing to free (and the finalizer still runs).
        if (_keys is null || _values is null) return;
        for (int l = 0; l < _keys.Length; l++)
        {
            NativeMemory.Free(_keys[l]);
            NativeMemory.Free(_values[l]);
        }
        if (Capacity > 0) GC.RemoveMemoryPressure(Bytes(Capacity));
    }

    /// <summary>Positions [0, position) of a layer's keys; valid until the next <see cref="Reserve"/>, while the cache is reachable.</summary>
    public Span<float> Keys(int layer, int positions) => Rows(_keys[layer], positions);
    public Span<float> Values(int layer, int positions) => Rows(_values[layer], positions);

    Span<float> Rows(float* rows, int positions) =>
        (uint)positions <= (uint)Capacity ? new Span<float>(rows, positions * RowLength) : throw new ArgumentOutOfRangeException(nameof(positions));

    /// <summary>Makes room for <paramref name="positions"/> positions, keeping what is stored.</summary>
    public void Reserve(int positions)
    {
        if (positions > ContextLength) throw new AgoraException($"{positions} positions exceed the context length {ContextLength}");
        if (positions <= Capacity) return;
        int capacity = (int)Math.Min(ContextLength, Math.Max(positions, Math.Max(16L, 2L * Capacity)));
        nuint bytes = (nuint)((long)capacity * RowLength * sizeof(float));
        // A pointer is replaced only once its block has grown: after a failure every layer still holds its rows.
        for (int l = 0; l < _keys.Length; l++)
        {
            _keys[l] = (float*)Grow(_keys[l], bytes);
            _values[l] = (float*)Grow(_values[l], bytes);
        }
        GC.AddMemoryPressure(Bytes(capacity) - Bytes(Capacity));
        Capacity = capacity;
    }

    static void* Grow(void* block, nuint bytes)
    {
        try { return NativeMemory.Realloc(block, bytes); }
        catch (OutOfMemoryException) { throw new AgoraException($"no memory for a KV cache of {bytes} bytes per layer; ask for a shorter context"); }
    }

    long Bytes(int positions) => 2L * _keys.Length * positions * RowLength * sizeof(float);
}
