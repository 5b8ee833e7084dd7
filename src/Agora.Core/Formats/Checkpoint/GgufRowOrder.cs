namespace Agora.Formats.Checkpoint;

/// <summary>
/// The row orders llama.cpp's converter imposes, as maps from each Hugging Face row to the GGUF row holding it.
/// </summary>
static class GgufRowOrder
{
    /// <summary>
    /// LLaMA q_proj/k_proj (weights and biases): the converter interleaves each head's two rotary halves
    /// (HF row h·d + j·d/2 + i is GGUF row h·d + 2i + j) for llama.cpp's pairwise rope. Qwen2 is not permuted.
    /// </summary>
    public static int[] Rope(string path, string tensor, long rows, int heads)
    {
        if (heads <= 0 || rows % heads != 0 || rows / heads % 2 != 0)
            throw new AgoraFormatException(path, $"tensor '{tensor}': {rows} rows do not split into {heads} heads of an even size");
        int headDim = (int)(rows / heads), half = headDim / 2;
        var order = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            int head = r / headDim, within = r % headDim;
            order[r] = head * headDim + 2 * (within % half) + within / half;
        }
        return order;
    }

    /// <summary>
    /// BLOOM's fused query_key_value: HF keeps [head, (q|k|v), head_dim] rows; the converter regroups them as
    /// all queries, then all keys, then all values.
    /// </summary>
    public static int[] BloomQkv(string path, string tensor, long rows, int heads)
    {
        if (heads <= 0 || rows % (3L * heads) != 0)
            throw new AgoraFormatException(path, $"tensor '{tensor}': {rows} rows do not split into 3 × {heads} heads");
        int headDim = (int)(rows / (3L * heads)), width = heads * headDim;
        var order = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            int head = r / (3 * headDim), part = r / headDim % 3, d = r % headDim;
            order[r] = part * width + head * headDim + d;
        }
        return order;
    }
}
