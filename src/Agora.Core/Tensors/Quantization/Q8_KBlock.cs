namespace Agora.Tensors.Quantization;

/// <summary>
/// ggml's block_q8_K, the intermediate format K-quant dot products pair with: float32 d, 256 int8 values, and the
/// sums of each group of 16 values (292 bytes).
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q8_KBlock
{
    public const int Elements = 256;
    public const int Bytes = 292;

    public float D;
    public fixed sbyte Qs[Elements];
    public fixed short BSums[16];

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q8_K");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q8_KBlock*)r, d, blocks);
    }

    internal static void Dequantize(Q8_KBlock* b, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, b++)
            for (int j = 0; j < Elements; j++) *y++ = b->D * b->Qs[j];
    }

    /// <summary>llama.cpp's quantize_row_q8_K_ref: d = −m/127 for m the first value of largest magnitude.</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q8_K");
        fixed (byte* rowStart = row)
            for (int i = 0; i < blocks; i++)
            {
                var x = src.Slice(i * Elements, Elements);
                var block = (Q8_KBlock*)rowStart + i;
                float max = Q4_0Block.SignedMax(x);
                if (max == 0)
                {
                    // ggml leaves bsums untouched here; zeros keep the block well defined.
                    new Span<byte>(block, Bytes).Clear();
                    continue;
                }
                float iscale = -127f / max;
                for (int j = 0; j < Elements; j++) block->Qs[j] = (sbyte)Math.Min(127, BlockRow.NearestInt(iscale * x[j]));
                for (int g = 0; g < 16; g++)
                {
                    int sum = 0;
                    for (int l = 0; l < 16; l++) sum += block->Qs[16 * g + l];
                    block->BSums[g] = (short)sum;
                }
                block->D = 1 / iscale;
            }
    }
}
