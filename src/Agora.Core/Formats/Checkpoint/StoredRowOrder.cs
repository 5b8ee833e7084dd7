namespace Agora.Formats.Checkpoint;

/// <summary>The order in which a checkpoint stores a tensor's rows (its outermost dimension).</summary>
public enum StoredRowOrder
{
    /// <summary>Hugging Face's order.</summary>
    HuggingFace,
    /// <summary>
    /// llama.cpp's LLaMA q_proj/k_proj (weights and biases): each head's two rotary halves interleaved, so that its
    /// pairwise rope rotates adjacent rows (see <see cref="GgufRowOrder.Rope"/>).
    /// </summary>
    RopePairs,
    /// <summary>llama.cpp's BLOOM fused query_key_value: all queries, then all keys, then all values (see <see cref="GgufRowOrder.BloomQkv"/>).</summary>
    QkvGrouped,
}
