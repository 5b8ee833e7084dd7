namespace Agora.Tensors.Quantization;

/// <summary>
/// ggml's block_q4_K: 256 values in 8 groups of 32, x = d·s·q − dmin·m with 4-bit q and 6-bit s, m packed in 12
/// bytes (144 bytes). Each 32-byte run of qs holds two groups: low nibbles the first, high nibbles the second.
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q4_KBlock
{
    public const int Elements = 256;
    public const int Bytes = 144;

    public Half D;
    public Half DMin;
    public fixed byte Scales[12];
    public fixed byte Qs[128];

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q4_K");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q4_KBlock*)r, d, blocks);
    }

    internal static void Dequantize(Q4_KBlock* b, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, b++)
        {
            float d = (float)b->D, min = (float)b->DMin;
            var scales = new ReadOnlySpan<byte>(b->Scales, 12);
            byte* q = b->Qs;
            for (int group = 0; group < 8; group += 2, q += 32)
            {
                var (sc1, m1) = KQuantSearch.ScaleMinK4(group, scales);
                var (sc2, m2) = KQuantSearch.ScaleMinK4(group + 1, scales);
                float d1 = d * sc1, min1 = min * m1, d2 = d * sc2, min2 = min * m2;
                for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - min1;
                for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - min2;
            }
        }
    }

    /// <summary>llama.cpp's quantize_row_q4_K_ref.</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q4_K");
        Span<byte> levels = stackalloc byte[Elements];
        fixed (byte* rowStart = row)
            for (int i = 0; i < blocks; i++)
            {
                var block = (Q4_KBlock*)rowStart + i;
                KQuantSearch.AffineSuperBlock(src.Slice(i * Elements, Elements), 15, -1f, 20, levels,
                    new Span<byte>(block->Scales, 12), out block->D, out block->DMin);
                byte* q = block->Qs;
                for (int j = 0; j < Elements; j += 64, q += 32)
                    for (int l = 0; l < 32; l++) q[l] = (byte)(levels[j + l] | (levels[j + l + 32] << 4));
            }
    }
}
