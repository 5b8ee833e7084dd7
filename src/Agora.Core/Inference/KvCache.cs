namespace Agora.Inference;

/// <summary>
/// The keys and values of one sequence, per layer, float32: row p of a layer holds position p's
/// KvHeads × HeadDim keys (or values). Memory grows with the sequence (doubling, up to the context length), so a
/// session over a long-context model costs what it uses.
/// </summary>
public sealed class KvCache
{
    readonly float[][] _keys;
    readonly float[][] _values;

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
        _keys = new float[layerCount][];
        _values = new float[layerCount][];
        for (int l = 0; l < layerCount; l++) _keys[l] = _values[l] = [];
    }

    /// <summary>Positions [0, position) of a layer's keys; valid until the next <see cref="Reserve"/>.</summary>
    public Span<float> Keys(int layer, int positions) => _keys[layer].AsSpan(0, positions * RowLength);
    public Span<float> Values(int layer, int positions) => _values[layer].AsSpan(0, positions * RowLength);

    /// <summary>Makes room for <paramref name="positions"/> positions, keeping what is stored.</summary>
    public void Reserve(int positions)
    {
        if (positions > ContextLength) throw new AgoraException($"{positions} positions exceed the context length {ContextLength}");
        if (positions <= Capacity) return;
        int capacity = (int)Math.Min(ContextLength, Math.Max(positions, Math.Max(16L, 2L * Capacity)));
        for (int l = 0; l < _keys.Length; l++)
        {
            Array.Resize(ref _keys[l], capacity * RowLength);
            Array.Resize(ref _values[l], capacity * RowLength);
        }
        Capacity = capacity;
    }
}
