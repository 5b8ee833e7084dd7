using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Agora.Tensors.Quantization;

namespace Agora.Tensors.Kernels;

/// <summary>
/// An activation row's int8 blocks, with each block's D and D·Σq also laid out in float arrays of their own, so the
/// AVX-512 kernels (<see cref="BlockGroupDot"/>) load eight blocks' scales at once.
/// </summary>
internal readonly unsafe struct Int8Row(Int8Block* blocks, float* scales, float* scaledSums)
{
    public readonly Int8Block* Blocks = blocks;
    public readonly float* Scales = scales, ScaledSums = scaledSums;

    public Int8Row Skip(int count) => new(Blocks + count, Scales + count, ScaledSums + count);

    /// <summary>Fills <paramref name="scales"/> and <paramref name="scaledSums"/> from the blocks.</summary>
    public static Int8Row Of(Int8Block* blocks, int count, float* scales, float* scaledSums)
    {
        for (int i = 0; i < count; i++)
        {
            scales[i] = blocks[i].D;
            scaledSums[i] = blocks[i].D * blocks[i].Sum;
        }
        return new(blocks, scales, scaledSums);
    }
}

/// <summary>
/// An activation row quantized once per product to 32-element int8 blocks (x ≈ D·q, D = max|x| / 127, float32
/// scale, plus Σq for the offset in Q4_0's q − 8), so the dot products with Q8_0 and Q4_0 weight rows run in
/// integer SIMD, as llama.cpp's q8_0 activations do. The result differs from the float product by the activation
/// rounding (at most D/2 per element), which the tests bound.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Int8Block
{
    public const int Elements = 32;

    public float D;
    public int Sum;
    public fixed sbyte Qs[Elements];

    /// <summary>Quantizes <paramref name="blocks"/> blocks; every width gives the same bytes (rounding half to even).</summary>
    public static void Quantize(float* x, Int8Block* dst, int blocks, SimdWidth width)
    {
        bool vector = width >= SimdWidth.V256 && Vector256.IsHardwareAccelerated;
        for (int i = 0; i < blocks; i++, x += Elements, dst++)
            if (vector) QuantizeVector(x, dst);
            else QuantizeScalar(x, dst);
    }

    /// <summary>The blocks' values widened to 16 bits, 32 to a block (for <see cref="Int8Gemm"/>'s word kernels).</summary>
    public static void Widen(Int8Block* src, short* dst, int blocks)
    {
        for (int i = 0; i < blocks; i++, src++, dst += Elements)
            if (Vector256.IsHardwareAccelerated)
            {
                var (low, high) = Vector256.Widen(Vector256.Load(src->Qs));
                low.Store(dst);
                high.Store(dst + 16);
            }
            else
                for (int j = 0; j < Elements; j++) dst[j] = src->Qs[j];
    }

    static void QuantizeVector(float* x, Int8Block* dst)
    {
        Vector256<float> x0 = Vector256.Load(x), x1 = Vector256.Load(x + 8), x2 = Vector256.Load(x + 16), x3 = Vector256.Load(x + 24);
        // Plain maxps: the values are magnitudes, so IEEE's care over signed zeros buys nothing here.
        var m8 = Vector256.MaxNative(Vector256.MaxNative(Vector256.Abs(x0), Vector256.Abs(x1)), Vector256.MaxNative(Vector256.Abs(x2), Vector256.Abs(x3)));
        var m4 = Vector128.MaxNative(m8.GetLower(), m8.GetUpper());
        m4 = Vector128.MaxNative(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
        float amax = Vector128.MaxNative(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2))).ToScalar();
        float d = amax / 127, id = d != 0 ? 1 / d : 0;
        // |x·id| ≤ 127 after rounding, so the plain conversion and the narrowing to bytes are exact.
        var scale = Vector256.Create(id);
        var q0 = Vector256.ConvertToInt32Native(Vector256.Round(x0 * scale));
        var q1 = Vector256.ConvertToInt32Native(Vector256.Round(x1 * scale));
        var q2 = Vector256.ConvertToInt32Native(Vector256.Round(x2 * scale));
        var q3 = Vector256.ConvertToInt32Native(Vector256.Round(x3 * scale));
        Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3)).Store(dst->Qs);
        dst->D = d;
        dst->Sum = Vector256.Sum(q0 + q1 + q2 + q3);
    }

    static void QuantizeScalar(float* x, Int8Block* dst)
    {
        float amax = 0;
        for (int j = 0; j < Elements; j++) amax = Math.Max(amax, MathF.Abs(x[j]));
        float d = amax / 127, id = d != 0 ? 1 / d : 0;
        int sum = 0;
        for (int j = 0; j < Elements; j++)
        {
            int q = (int)MathF.Round(x[j] * id);
            dst->Qs[j] = (sbyte)q;
            sum += q;
        }
        dst->D = d;
        dst->Sum = sum;
    }

    /// <summary>Σ Q8_0 row · activation blocks: exact int32 block sums, scaled and accumulated in float.</summary>
    public static float DotQ8_0(Q8_0Block* w, Int8Row row, int blocks, SimdWidth width)
    {
        float head = BlockGroupDot.Leading<BlockGroupDot.Q8_0, Q8_0Block>(ref w, ref row, ref blocks, width);
        var a = row.Blocks;
        if (width >= SimdWidth.V256 && Avx2.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            for (int i = 0; i < blocks; i++, w++, a++)
            {
                var wq = Vector256.Load(w->Qs);
                var aq = Vector256.Load(a->Qs);
                // u8 × s8 products: |w| against x carrying w's sign.
                var sums = DotBytes256(Avx2.Abs(wq), Avx2.Sign(aq, wq));
                acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sums), Vector256.Create(ElementConversion.HalfToSingle(w->D) * a->D), acc);
            }
            return head + Vector256.Sum(acc);
        }
        float total = head;
        for (int i = 0; i < blocks; i++, w++, a++)
        {
            int sum = 0;
            for (int j = 0; j < Elements; j++) sum += w->Qs[j] * a->Qs[j];
            total += sum * (ElementConversion.HalfToSingle(w->D) * a->D);
        }
        return total;
    }

    /// <summary>Σ Q4_0 row · activation blocks: Σ(q − 8)·a = Σq·a − 8·Σa, with the nibbles used unsigned.</summary>
    public static float DotQ4_0(Q4_0Block* w, Int8Row row, int blocks, SimdWidth width)
    {
        float head = BlockGroupDot.Leading<BlockGroupDot.Q4_0, Q4_0Block>(ref w, ref row, ref blocks, width);
        var a = row.Blocks;
        if (width >= SimdWidth.V256 && Avx2.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            float offset = 0;
            for (int i = 0; i < blocks; i++, w++, a++)
            {
                var sums = DotBytes256(QuantizedDot.Nibbles(w->Qs), Vector256.Load(a->Qs));
                float scale = ElementConversion.HalfToSingle(w->D) * a->D;
                acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sums), Vector256.Create(scale), acc);
                offset += scale * a->Sum;
            }
            return head + Vector256.Sum(acc) - 8 * offset;
        }
        float total = head;
        for (int i = 0; i < blocks; i++, w++, a++)
        {
            int sum = 0;
            for (int j = 0; j < Elements / 2; j++)
                sum += ((w->Qs[j] & 0x0F) - 8) * a->Qs[j] + ((w->Qs[j] >> 4) - 8) * a->Qs[j + 16];
            total += sum * (ElementConversion.HalfToSingle(w->D) * a->D);
        }
        return total;
    }

    // Eight int32 lanes, each the sum of four adjacent u8·s8 products (exact: VNNI accumulates in int32; the AVX2
    // pair sums stay below the int16 saturation bound for these operands, |u| ≤ 128 and |s| ≤ 127).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> DotBytes256(Vector256<byte> u, Vector256<sbyte> s) =>
        AvxVnni.IsSupported
            ? AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s)
            : Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));
}
