using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Agora.Tensors.Quantization;

namespace Agora.Tensors.Kernels;

/// <summary>
/// The AVX-512 form of the 32-element block dot products (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 against
/// <see cref="Int8Block"/> activations), eight blocks at a time. The 256-bit kernels spend most of each block on
/// scalar work — an F16 scale widened by bit arithmetic, multiplied and broadcast — which here is one vector for
/// eight blocks (loaded element by element — gathers are slow microcode on CPUs patched against Downfall — widened,
/// times the activation scales that <see cref="Int8Row"/> keeps contiguous), and two blocks share each 512-bit
/// multiply. The integer sums are exact as there, so results differ from the 256-bit kernels only in float summation
/// order. Callers pass whole groups of eight and run the rest of a row through their own path.
/// </summary>
internal static unsafe class BlockGroupDot
{
    public const int Blocks = 8;

    public static bool IsSupported(SimdWidth width) => width == SimdWidth.V512 && Avx512BW.IsSupported;

    /// <summary>
    /// The row's leading whole groups of eight through <see cref="Dot"/> where <paramref name="width"/> allows it,
    /// advancing the pointers and count past them for the caller's own loop; 0 and nothing moved otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Leading<T, TBlock>(ref TBlock* w, ref Int8Row a, ref int blocks, SimdWidth width)
        where T : struct, IBlockPairs where TBlock : unmanaged
    {
        if (!IsSupported(width) || blocks < Blocks) return 0;
        int groups = blocks / Blocks;
        float sum = Dot<T>((byte*)w, a, groups);
        w += groups * Blocks;
        a = a.Skip(groups * Blocks);
        blocks -= groups * Blocks;
        return sum;
    }

    /// <summary>Σ over <paramref name="groups"/>·8 blocks of row <paramref name="w"/> (type T) · activations <paramref name="row"/>.</summary>
    public static float Dot<T>(byte* w, Int8Row row, int groups) where T : struct, IBlockPairs
    {
        var acc = Vector512<float>.Zero;
        var offsets = Vector256<float>.Zero;
        Int8Block* a = row.Blocks;
        for (int g = 0; g < groups; g++, w += Blocks * T.Bytes, a += Blocks)
        {
            var d = HalfDot.F16.Widen(Halves(w, T.Bytes));
            var ad = Vector256.Load(row.Scales + g * Blocks);
            var scales = (d * ad).ToVector512Unsafe();
            if (T.HasOffset) offsets = Vector256.FusedMultiplyAdd(T.Offset(w, d), Vector256.Load(row.ScaledSums + g * Blocks), offsets);
            // Lanes 0–7 of each product take block p's scale, lanes 8–15 block p + 1's.
            acc = Pair<T>(w, a, Avx512F.PermuteVar16x32(scales, Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)), acc);
            acc = Pair<T>(w + 2 * T.Bytes, a + 2, Avx512F.PermuteVar16x32(scales, Vector512.Create(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)), acc);
            acc = Pair<T>(w + 4 * T.Bytes, a + 4, Avx512F.PermuteVar16x32(scales, Vector512.Create(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5)), acc);
            acc = Pair<T>(w + 6 * T.Bytes, a + 6, Avx512F.PermuteVar16x32(scales, Vector512.Create(6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7)), acc);
        }
        return Vector512.Sum(acc) + Vector256.Sum(offsets);
    }

    /// <summary>acc + scale · the exact int32 sums (four products each) of blocks 0 and 1 at w against a[0] and a[1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Pair<T>(byte* w, Int8Block* a, Vector512<float> scale, Vector512<float> acc) where T : struct, IBlockPairs
    {
        var q = T.Values(w);
        var x = Join(a->Qs, a[1].Qs);
        Vector512<short> pairs;
        if (T.Signed)
        {
            // u8 × s8 multiplies: |w| against x carrying w's sign.
            var signed = q.AsSByte();
            pairs = Avx512BW.MultiplyAddAdjacent(Vector512.Abs(signed).AsByte(),
                Vector512.ConditionalSelect(Vector512.LessThan(signed, Vector512<sbyte>.Zero), -x, x));
        }
        else
            pairs = Avx512BW.MultiplyAddAdjacent(q, x);
        var sums = Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1));
        return Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(sums), scale, acc);
    }

    /// <summary>How one block type lays out its values: two consecutive blocks are unpacked at a time.</summary>
    internal interface IBlockPairs
    {
        static abstract int Bytes { get; }
        /// <summary>Whether values are signed bytes (multiplied through the sign trick) rather than 0..31.</summary>
        static abstract bool Signed { get; }
        static abstract bool HasOffset { get; }
        /// <summary>The 64 values of blocks 0 and 1 at <paramref name="block"/>, in element order.</summary>
        static abstract Vector512<byte> Values(byte* block);
        /// <summary>Per block of the group, what multiplies the activation block's D·Σq: the constant part of its values.</summary>
        static abstract Vector256<float> Offset(byte* group, Vector256<float> d);
    }

    // Two 32-byte halves: a load and an insert (Vector512.Create inserts both halves).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<sbyte> Join(sbyte* low, sbyte* high) => Avx512F.InsertVector256(Vector256.Load(low).ToVector512Unsafe(), Vector256.Load(high), 1);

    // Nibble blocks: bytes 0..15 of the 16 hold elements j (low nibble) and j + 16 (high).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> Nibbles(byte* first, byte* second)
    {
        var packed = Avx512F.InsertVector256(Avx2.BroadcastVector128ToVector256(first).ToVector512Unsafe(), Avx2.BroadcastVector128ToVector256(second), 1);
        var shifts = Vector512.Create((ushort)0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4);
        return Avx512BW.ShiftRightLogicalVariable(packed.AsUInt16(), shifts).AsByte() & Vector512.Create((byte)0x0F);
    }

    // 16 in each byte whose bit is set in the blocks' 32-bit fifth-bit masks.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> FifthBits(uint first, uint second)
    {
        var bits = Vector512.Create((ulong)second << 32 | first).AsByte();
        var spread = Avx512BW.Shuffle(bits, Vector512.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
            4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7));
        var bit = Vector512.Create(0x8040201008040201UL).AsByte();
        return Vector512.Equals(spread & bit, bit) & Vector512.Create((byte)16);
    }

    // Q5 blocks: nibbles at qs, their fifth bits as a 32-bit mask at qh.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> FifthBitValues(byte* block, int qh, int qs, int bytes) =>
        Nibbles(block + qs, block + bytes + qs) | FifthBits(*(uint*)(block + qh), *(uint*)(block + bytes + qh));

    // The mins of Q4_1 and Q5_1: an F16 two bytes into each block.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Mins(byte* group, int stride) => HalfDot.F16.Widen(Halves(group + 2, stride));

    // The F16 bits at p, p + stride, …, p + 7·stride (the scales or mins of a group of blocks).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<uint> Halves(byte* p, int stride) => Vector256.Create(
        (uint)*(ushort*)p, *(ushort*)(p + stride), *(ushort*)(p + 2 * stride), *(ushort*)(p + 3 * stride),
        *(ushort*)(p + 4 * stride), *(ushort*)(p + 5 * stride), *(ushort*)(p + 6 * stride), *(ushort*)(p + 7 * stride));

    internal struct Q8_0 : IBlockPairs
    {
        public static int Bytes => Q8_0Block.Bytes;
        public static bool Signed => true;
        public static bool HasOffset => false;
        public static Vector512<byte> Values(byte* block) => Join((sbyte*)block + 2, (sbyte*)block + Q8_0Block.Bytes + 2).AsByte();
        public static Vector256<float> Offset(byte* group, Vector256<float> d) => default;
    }

    internal struct Q4_0 : IBlockPairs
    {
        public static int Bytes => Q4_0Block.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        public static Vector512<byte> Values(byte* block) => Nibbles(block + 2, block + Q4_0Block.Bytes + 2);
        public static Vector256<float> Offset(byte* group, Vector256<float> d) => d * -8;
    }

    internal struct Q4_1 : IBlockPairs
    {
        public static int Bytes => Q4_1Block.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        public static Vector512<byte> Values(byte* block) => Nibbles(block + 4, block + Q4_1Block.Bytes + 4);
        public static Vector256<float> Offset(byte* group, Vector256<float> d) => Mins(group, Bytes);
    }

    internal struct Q5_0 : IBlockPairs
    {
        public static int Bytes => Q5_0Block.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        public static Vector512<byte> Values(byte* block) => FifthBitValues(block, 2, 6, Bytes);
        public static Vector256<float> Offset(byte* group, Vector256<float> d) => d * -16;
    }

    internal struct Q5_1 : IBlockPairs
    {
        public static int Bytes => Q5_1Block.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        public static Vector512<byte> Values(byte* block) => FifthBitValues(block, 4, 8, Bytes);
        public static Vector256<float> Offset(byte* group, Vector256<float> d) => Mins(group, Bytes);
    }
}
