using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Agora.Tensors.Quantization;

namespace Agora.Tensors.Kernels;

/// <summary>
/// Integer dot products of Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K weight rows with activations quantized to
/// 32-element int8 blocks (<see cref="Int8Block"/>), in the manner of llama.cpp's vec_dot kernels: each 32 weights
/// an activation block covers are unpacked to bytes in a register and multiplied with it in int32 lanes (VNNI or
/// AVX2), then scaled once in float; constant offsets (the mins of Q4_1, Q5_1, Q4_K, Q5_K and Q5_0's −16) go through
/// the activation block sums. Q6_K's q − 32 is multiplied signed (|q − 32| against the activations carrying its
/// sign), since its scales change every 16 values. The K-quants take the same 32-element activation blocks as the
/// rest rather than a per-256 scale: their own scales change every 16 or 32 values anyway, so one float step per
/// 32 costs little, and the activations keep a finer scale. Every vector path has its scalar twin below it.
/// </summary>
internal static unsafe class QuantizedDot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool Vectorized(SimdWidth width) => width >= SimdWidth.V256 && Avx2.IsSupported;

    public static float DotQ4_1(Q4_1Block* w, Int8Row row, int blocks, SimdWidth width)
    {
        float head = BlockGroupDot.Leading<BlockGroupDot.Q4_1, Q4_1Block>(ref w, ref row, ref blocks, width);
        var a = row.Blocks;
        bool vector = Vectorized(width);
        var acc = Vector256<float>.Zero;
        float total = head;
        for (int i = 0; i < blocks; i++, w++, a++)
        {
            float scale = ElementConversion.HalfToSingle(w->D) * a->D;
            total += ElementConversion.HalfToSingle(w->M) * a->D * a->Sum;
            if (vector) acc = Accumulate(Nibbles(w->Qs), a, scale, acc);
            else total += NibbleDot(w->Qs, 0, a) * scale;
        }
        return total + Vector256.Sum(acc);
    }

    public static float DotQ5_0(Q5_0Block* w, Int8Row row, int blocks, SimdWidth width)
    {
        float head = BlockGroupDot.Leading<BlockGroupDot.Q5_0, Q5_0Block>(ref w, ref row, ref blocks, width);
        var a = row.Blocks;
        bool vector = Vectorized(width);
        var acc = Vector256<float>.Zero;
        float total = head;
        for (int i = 0; i < blocks; i++, w++, a++)
        {
            float scale = ElementConversion.HalfToSingle(w->D) * a->D;
            total -= 16 * scale * a->Sum;
            if (vector) acc = Accumulate(Nibbles(w->Qs) | HighBits(w->Qh), a, scale, acc);
            else total += NibbleDot(w->Qs, w->Qh, a) * scale;
        }
        return total + Vector256.Sum(acc);
    }

    public static float DotQ5_1(Q5_1Block* w, Int8Row row, int blocks, SimdWidth width)
    {
        float head = BlockGroupDot.Leading<BlockGroupDot.Q5_1, Q5_1Block>(ref w, ref row, ref blocks, width);
        var a = row.Blocks;
        bool vector = Vectorized(width);
        var acc = Vector256<float>.Zero;
        float total = head;
        for (int i = 0; i < blocks; i++, w++, a++)
        {
            float scale = ElementConversion.HalfToSingle(w->D) * a->D;
            total += ElementConversion.HalfToSingle(w->M) * a->D * a->Sum;
            if (vector) acc = Accumulate(Nibbles(w->Qs) | HighBits(w->Qh), a, scale, acc);
            else total += NibbleDot(w->Qs, w->Qh, a) * scale;
        }
        return total + Vector256.Sum(acc);
    }

    /// <summary><paramref name="blocks"/> counts 256-element super-blocks (eight activation blocks each).</summary>
    public static float DotQ4_K(Q4_KBlock* w, Int8Row a, int blocks, SimdWidth width) =>
        BlockGroupDot.IsSupported(width) ? BlockGroupDot.Dot<BlockGroupDot.Q4_K>((byte*)w, a, blocks)
            : DotAffineK((byte*)w, Q4_KBlock.Bytes, false, a.Blocks, blocks, width);

    public static float DotQ5_K(Q5_KBlock* w, Int8Row a, int blocks, SimdWidth width) =>
        BlockGroupDot.IsSupported(width) ? BlockGroupDot.Dot<BlockGroupDot.Q5_K>((byte*)w, a, blocks)
            : DotAffineK((byte*)w, Q5_KBlock.Bytes, true, a.Blocks, blocks, width);

    // Q4_K and Q5_K share a layout (F16 d and dmin, 12 bytes of packed 6-bit scales and mins, then for Q5_K 32
    // bytes of fifth bits, then 128 bytes of nibbles); their values are d·s·q − dmin·m per 32-element group.
    static float DotAffineK(byte* w, int blockBytes, bool fifthBit, Int8Block* a, int blocks, SimdWidth width)
    {
        bool vector = Vectorized(width);
        var acc = Vector256<float>.Zero;
        float total = 0;
        for (int i = 0; i < blocks; i++, w += blockBytes)
        {
            var block = (Q4_KBlock*)w; // d, dmin and scales sit at the same offsets in both types
            // Once per 256 values the plain conversion is cheap enough (inlining HalfToSingle here measured slower).
            float d = (float)block->D, dmin = (float)block->DMin;
            var scales = new ReadOnlySpan<byte>(block->Scales, 12);
            byte* qh = fifthBit ? w + 16 : null;
            byte* q = w + (fifthBit ? 48 : 16);
            var highs = fifthBit && vector ? Vector256.Load(qh) : default;
            for (int g = 0; g < 8; g += 2, q += 32, a += 2)
            {
                var (s0, m0) = KQuantSearch.ScaleMinK4(g, scales);
                var (s1, m1) = KQuantSearch.ScaleMinK4(g + 1, scales);
                total -= dmin * (m0 * a->D * a->Sum + m1 * a[1].D * a[1].Sum);
                float scale0 = d * s0 * a->D, scale1 = d * s1 * a[1].D;
                if (vector)
                {
                    var packed = Vector256.Load(q);
                    var low = packed & Vector256.Create((byte)0x0F);
                    var high = (packed.AsUInt16() >> 4).AsByte() & Vector256.Create((byte)0x0F);
                    if (fifthBit)
                    {
                        low |= BitSet(highs, (byte)(1 << g));
                        high |= BitSet(highs, (byte)(2 << g));
                    }
                    acc = Accumulate(low, a, scale0, acc);
                    acc = Accumulate(high, a + 1, scale1, acc);
                }
                else
                {
                    int sum0 = 0, sum1 = 0;
                    for (int l = 0; l < 32; l++)
                    {
                        int q0 = q[l] & 0x0F, q1 = q[l] >> 4;
                        if (fifthBit)
                        {
                            q0 |= (qh[l] >> g & 1) << 4;
                            q1 |= (qh[l] >> (g + 1) & 1) << 4;
                        }
                        sum0 += q0 * a->Qs[l];
                        sum1 += q1 * a[1].Qs[l];
                    }
                    total += sum0 * scale0 + sum1 * scale1;
                }
            }
        }
        return total + Vector256.Sum(acc);
    }

    /// <summary>
    /// Q6_K: per 128-value half, ql[l] holds values l and l+64 in its nibbles, ql[l+32] values l+32 and l+96, and
    /// bit pairs 0, 2, 4, 6 of qh[l] their high bits; value k·32 + l takes scale 2k + l/16 of the half.
    /// </summary>
    public static float DotQ6_K(Q6_KBlock* w, Int8Row row, int blocks, SimdWidth width)
    {
        if (BlockGroupDot.IsSupported(width)) return BlockGroupDot.Dot<BlockGroupDot.Q6_K>((byte*)w, row, blocks);
        var a = row.Blocks;
        bool vector = Vectorized(width);
        var acc = Vector256<float>.Zero;
        float total = 0;
        for (int i = 0; i < blocks; i++, w++)
        {
            float d = (float)w->D; // once per 256 values, as in DotAffineK
            byte* ql = w->Ql, qh = w->Qh;
            sbyte* sc = w->Scales;
            for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, a += 4)
            {
                if (vector)
                    for (int k = 0; k < 4; k++)
                        acc = AccumulateSigned(Q6_KValues(w, 4 * half + k), a + k, d, sc + 2 * k, acc);
                else
                    for (int k = 0; k < 4; k++)
                    {
                        int sum0 = 0, sum1 = 0;
                        for (int l = 0; l < 32; l++)
                        {
                            int packed = ql[l + (k & 1) * 32];
                            int q = (k < 2 ? packed & 0x0F : packed >> 4) | (qh[l] >> (2 * k) & 3) << 4;
                            if (l < 16) sum0 += (q - 32) * a[k].Qs[l];
                            else sum1 += (q - 32) * a[k].Qs[l];
                        }
                        total += d * a[k].D * (sc[2 * k] * sum0 + sc[2 * k + 1] * sum1);
                    }
            }
        }
        return total + Vector256.Sum(acc);
    }

    /// <summary>Σ q·a over one 32-value block in the Q4 nibble layout, q's fifth bits (Q5) taken from <paramref name="qh"/>.</summary>
    static int NibbleDot(byte* qs, uint qh, Int8Block* a)
    {
        int sum = 0;
        for (int j = 0; j < 16; j++)
        {
            int q0 = qs[j] & 0x0F | (int)(qh >> j & 1) << 4;
            int q1 = qs[j] >> 4 | (int)(qh >> (j + 16) & 1) << 4;
            sum += q0 * a->Qs[j] + q1 * a->Qs[j + 16];
        }
        return sum;
    }

    /// <summary>acc + scale · (eight int32 sums of four q·a products), q unsigned (at most 63).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Accumulate(Vector256<byte> q, Int8Block* a, float scale, Vector256<float> acc) =>
        Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Int8Block.DotBytes256(q, Vector256.Load(a->Qs))), Vector256.Create(scale), acc);

    /// <summary>Q6_K's 32 values q (0..63) as q − 32 against one activation block, scales sc[0] and sc[1] per 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> AccumulateSigned(Vector256<byte> q, Int8Block* a, float d, sbyte* sc, Vector256<float> acc)
    {
        var signed = (q - Vector256.Create((byte)32)).AsSByte();
        var sums = Int8Block.DotBytes256(Avx2.Abs(signed), Avx2.Sign(Vector256.Load(a->Qs), signed));
        float scale = d * a->D;
        var scales = Vector256.Create(Vector128.Create(scale * sc[0]), Vector128.Create(scale * sc[1]));
        return Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sums), scales, acc);
    }

    /// <summary>
    /// The 32 values q (0..63, before the − 32) of block <paramref name="j"/> of a Q6_K super-block: in half j / 4,
    /// the low nibbles (k = j % 4 below 2) or the high ones of the 32 bytes at 32·(k % 2) of the half's ql, and bit
    /// pair k of the half's qh.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Q6_KValues(Q6_KBlock* super, int j)
    {
        int half = j / 4, k = j % 4;
        var packed = Vector256.Load(super->Ql + 64 * half + 32 * (k % 2));
        var low = (k < 2 ? packed : Vector256.ShiftRightLogical(packed.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F);
        var high = Vector256.ShiftRightLogical(Vector256.Load(super->Qh + 32 * half).AsUInt16(), 2 * k).AsByte() & Vector256.Create((byte)3);
        return low | Vector256.ShiftLeft(high, 4);
    }

    /// <summary>The 32 nibbles of a Q4-layout block as bytes: elements 0..15 (low nibbles), then 16..31 (high).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Nibbles(byte* qs)
    {
        var packed = Vector128.Load(qs);
        return Vector256.Create(packed & Vector128.Create((byte)0x0F), Vector128.ShiftRightLogical(packed, 4));
    }

    /// <summary>Byte j is 16 where bit j of <paramref name="qh"/> is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> HighBits(uint qh)
    {
        // Each byte gets the qh byte holding its bit (vpshufb works within 128-bit lanes, each a copy of qh).
        var spread = Avx2.Shuffle(Vector256.Create(qh).AsByte(),
            Vector256.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var bit = Vector256.Create(0x8040201008040201UL).AsByte();
        return Vector256.Equals(spread & bit, bit) & Vector256.Create((byte)16);
    }

    /// <summary>16 in the bytes of <paramref name="bits"/> where <paramref name="mask"/>'s bit is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> BitSet(Vector256<byte> bits, byte mask)
    {
        var m = Vector256.Create(mask);
        return Vector256.Equals(bits & m, m) & Vector256.Create((byte)16);
    }
}
