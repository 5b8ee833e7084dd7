namespace Agora.Tensors.Quantization;

/// <summary>
/// ggml's block_q6_K: 256 values in 16 groups of 16, x = d·s·(q − 32) with 6-bit q (low nibbles in ql, two high
/// bits in qh) and int8 s (210 bytes). Per 128-value half: ql[l] holds values l (low) and l+64 (high), ql[l+32]
/// values l+32 and l+96; qh[l] holds the high bits of l, l+32, l+64, l+96 in bit pairs 0, 2, 4, 6.
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q6_KBlock
{
    public const int Elements = 256;
    public const int Bytes = 210;

    public fixed byte Ql[128];
    public fixed byte Qh[64];
    public fixed sbyte Scales[16];
    public Half D;

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q6_K");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q6_KBlock*)r, d, blocks);
    }

    internal static void Dequantize(Q6_KBlock* b, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, b++)
        {
            float d = (float)b->D;
            byte* ql = b->Ql;
            byte* qh = b->Qh;
            sbyte* sc = b->Scales;
            for (int n = 0; n < Elements; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * sc[s] * q1;
                    y[l + 32] = d * sc[s + 2] * q2;
                    y[l + 64] = d * sc[s + 4] * q3;
                    y[l + 96] = d * sc[s + 6] * q4;
                }
        }
    }

    /// <summary>llama.cpp's quantize_row_q6_K_ref.</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q6_K");
        Span<sbyte> levels = stackalloc sbyte[Elements];
        Span<float> scales = stackalloc float[16];
        fixed (byte* rowStart = row)
            for (int i = 0; i < blocks; i++)
            {
                var x = src.Slice(i * Elements, Elements);
                var block = (Q6_KBlock*)rowStart + i;
                float maxScale = 0, maxAbsScale = 0;
                for (int g = 0; g < 16; g++)
                {
                    scales[g] = KQuantSearch.SymmetricLevels(x.Slice(16 * g, 16), 32, levels.Slice(16 * g, 16));
                    if (MathF.Abs(scales[g]) > maxAbsScale) { maxAbsScale = MathF.Abs(scales[g]); maxScale = scales[g]; }
                }
                if (maxAbsScale < 1e-15f)
                {
                    new Span<byte>(block, Bytes).Clear();
                    continue;
                }
                float iscale = -128f / maxScale;
                block->D = (Half)(1 / iscale);
                for (int g = 0; g < 16; g++) block->Scales[g] = (sbyte)Math.Min(127, BlockRow.NearestInt(iscale * scales[g]));
                for (int g = 0; g < 16; g++)
                {
                    float d = (float)block->D * block->Scales[g];
                    if (d == 0) continue;
                    for (int l = 0; l < 16; l++)
                        levels[16 * g + l] = (sbyte)(Math.Clamp(BlockRow.NearestInt(x[16 * g + l] / d), -32, 31) + 32);
                }
                byte* ql = block->Ql;
                byte* qh = block->Qh;
                for (int j = 0; j < Elements; j += 128, ql += 64, qh += 32)
                    for (int l = 0; l < 32; l++)
                    {
                        int l1 = levels[j + l], l2 = levels[j + l + 32], l3 = levels[j + l + 64], l4 = levels[j + l + 96];
                        ql[l] = (byte)((l1 & 0xF) | ((l3 & 0xF) << 4));
                        ql[l + 32] = (byte)((l2 & 0xF) | ((l4 & 0xF) << 4));
                        qh[l] = (byte)((l1 >> 4) | ((l2 >> 4) << 2) | ((l3 >> 4) << 4) | ((l4 >> 4) << 6));
                    }
            }
    }
}
