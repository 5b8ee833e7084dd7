namespace Agora.Tensors.Quantization;

/// <summary>
/// ggml's block_q5_K: Q4_K plus a fifth bit per value (176 bytes): bit 2k of qh[l] for value 64k + l, bit 2k+1 for
/// value 64k + 32 + l.
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q5_KBlock
{
    public const int Elements = 256;
    public const int Bytes = 176;

    public Half D;
    public Half DMin;
    public fixed byte Scales[12];
    public fixed byte Qh[32];
    public fixed byte Qs[128];

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q5_K");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q5_KBlock*)r, d, blocks);
    }

    internal static void Dequantize(Q5_KBlock* b, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, b++)
        {
            float d = (float)b->D, min = (float)b->DMin;
            var scales = new ReadOnlySpan<byte>(b->Scales, 12);
            byte* ql = b->Qs;
            byte* qh = b->Qh;
            int u1 = 1, u2 = 2;
            for (int group = 0; group < 8; group += 2, ql += 32, u1 <<= 2, u2 <<= 2)
            {
                var (sc1, m1) = KQuantSearch.ScaleMinK4(group, scales);
                var (sc2, m2) = KQuantSearch.ScaleMinK4(group + 1, scales);
                float d1 = d * sc1, min1 = min * m1, d2 = d * sc2, min2 = min * m2;
                for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - min1;
                for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - min2;
            }
        }
    }

    /// <summary>llama.cpp's quantize_row_q5_K_ref.</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q5_K");
        Span<byte> levels = stackalloc byte[Elements];
        fixed (byte* rowStart = row)
            for (int i = 0; i < blocks; i++)
            {
                var block = (Q5_KBlock*)rowStart + i;
                KQuantSearch.AffineSuperBlock(src.Slice(i * Elements, Elements), 31, -0.5f, 15, levels,
                    new Span<byte>(block->Scales, 12), out block->D, out block->DMin);
                byte* ql = block->Qs;
                byte* qh = block->Qh;
                for (int j = 0; j < 32; j++) qh[j] = 0;
                int m1 = 1, m2 = 2;
                for (int n = 0; n < Elements; n += 64, ql += 32, m1 <<= 2, m2 <<= 2)
                    for (int j = 0; j < 32; j++)
                    {
                        int l1 = levels[n + j], l2 = levels[n + j + 32];
                        if (l1 > 15) { l1 -= 16; qh[j] |= (byte)m1; }
                        if (l2 > 15) { l2 -= 16; qh[j] |= (byte)m2; }
                        ql[j] = (byte)(l1 | (l2 << 4));
                    }
            }
    }
}
