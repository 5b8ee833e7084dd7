using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Agora.Tensors.Quantization;

namespace Agora.Tensors.Kernels;

/// <summary>
/// The AVX-512 form of the integer dot products against <see cref="Int8Block"/> activations, a group of eight
/// 32-element blocks (256 values) at a time: Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 eight blocks to a group, the K-quants
/// (Q4_K, Q5_K, Q6_K) one super-block. The 256-bit kernels spend most of each block on scalar work — an F16 scale
/// widened by bit arithmetic, multiplied and broadcast — which here is one vector for the group's eight blocks
/// (loaded element by element — gathers are slow microcode on CPUs patched against Downfall — or picked by a byte
/// permute, or unpacked from a super-block's packed scales; times the activation scales that <see cref="Int8Row"/>
/// keeps contiguous), and two
/// blocks share each 512-bit multiply. The integer sums are exact as there, so results differ from the 256-bit
/// kernels only in float summation order. Callers of the 32-element types pass whole groups and run the rest of a
/// row through their own path.
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
        where T : struct, IBlockGroup where TBlock : unmanaged
    {
        if (!IsSupported(width) || blocks < Blocks) return 0;
        int groups = blocks / Blocks;
        float sum = Dot<T>((byte*)w, a, groups);
        w = (TBlock*)((byte*)w + groups * T.GroupBytes);
        a = a.Skip(groups * Blocks);
        blocks -= groups * Blocks;
        return sum;
    }

    /// <summary>Σ over <paramref name="groups"/> groups of row <paramref name="w"/> (type T) · activations <paramref name="row"/>.</summary>
    public static float Dot<T>(byte* w, Int8Row row, int groups) where T : struct, IBlockGroup
    {
        var acc = Vector512<float>.Zero;
        var offsets = Vector256<float>.Zero;
        Int8Block* a = row.Blocks;
        for (int g = 0; g < groups; g++, w += T.GroupBytes, a += Blocks)
        {
            var weights = T.Scales(w);
            var scales = (weights.Scale * Vector256.Load(row.Scales + g * Blocks)).ToVector512Unsafe();
            if (T.HasOffset) offsets = Vector256.FusedMultiplyAdd(weights.Offset, Vector256.Load(row.ScaledSums + g * Blocks), offsets);
            // Lanes 0–7 of each product take block 2p's scale, lanes 8–15 block 2p + 1's.
            acc = Pair<T>(w, 0, a, Avx512F.PermuteVar16x32(scales, Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)), acc);
            acc = Pair<T>(w, 1, a + 2, Avx512F.PermuteVar16x32(scales, Vector512.Create(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)), acc);
            acc = Pair<T>(w, 2, a + 4, Avx512F.PermuteVar16x32(scales, Vector512.Create(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5)), acc);
            acc = Pair<T>(w, 3, a + 6, Avx512F.PermuteVar16x32(scales, Vector512.Create(6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7)), acc);
        }
        return Vector512.Sum(acc) + Vector256.Sum(offsets);
    }

    /// <summary>acc + scale · the exact int32 sums (four products each) of the group's blocks 2p and 2p + 1 against a[0] and a[1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Pair<T>(byte* group, int pair, Int8Block* a, Vector512<float> scale, Vector512<float> acc) where T : struct, IBlockGroup
    {
        var q = T.Values(group, pair);
        var x = Join(a->Qs, a[1].Qs);
        Vector512<short> products;
        if (T.Signed)
        {
            // u8 × s8 multiplies: |w| against x carrying w's sign.
            var signed = q.AsSByte();
            products = Avx512BW.MultiplyAddAdjacent(Vector512.Abs(signed).AsByte(),
                Vector512.ConditionalSelect(Vector512.LessThan(signed, Vector512<sbyte>.Zero), -x, x));
        }
        else
            products = Avx512BW.MultiplyAddAdjacent(q, x);
        var sums = Avx512BW.MultiplyAddAdjacent(products, T.PairWeights(group, pair));
        return Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(sums), scale, acc);
    }

    /// <summary>Per block of a group: what multiplies its integer sums, and what multiplies the activation block's D·Σq.</summary>
    internal readonly struct BlockScales(Vector256<float> scale, Vector256<float> offset)
    {
        public readonly Vector256<float> Scale = scale, Offset = offset;
    }

    /// <summary>How one weight type lays out a group of 256 values: two consecutive 32-value blocks are unpacked at a time.</summary>
    internal interface IBlockGroup
    {
        static abstract int GroupBytes { get; }
        /// <summary>Whether values are signed bytes (multiplied through the sign trick) rather than 0..63.</summary>
        static abstract bool Signed { get; }
        static abstract bool HasOffset { get; }
        static abstract BlockScales Scales(byte* group);
        /// <summary>The 64 values of the group's blocks 2<paramref name="pair"/> and 2<paramref name="pair"/> + 1, in element order.</summary>
        static abstract Vector512<byte> Values(byte* group, int pair);
        /// <summary>What multiplies each sum of two products before the int32 sums: 1, or integer scales per 16 values.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static virtual Vector512<short> PairWeights(byte* group, int pair) => Vector512.Create((short)1);
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

    // The scales of a group of 32-element blocks: an F16 at the start of each.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> HalfScales(byte* group, int stride) => HalfDot.F16.Widen(Halves(group, stride));

    // The mins of Q4_1 and Q5_1: an F16 two bytes into each block.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Mins(byte* group, int stride) => HalfDot.F16.Widen(Halves(group + 2, stride));

    // The F16 bits at p, p + stride, …, p + 7·stride (the scales or mins of a group of blocks). Where they all lie in
    // the first 128 bytes (Q4_0's scales), one byte permute of two loads picks them (AVX-512 VBMI: Q4_0 in cache on one
    // thread 38 → 44 GFLOP/s); otherwise eight loads, element by element (two permutes for Q8_0's gained nothing).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<uint> Halves(byte* p, int stride)
    {
        if (Avx512Vbmi.IsSupported && 7 * stride + 2 <= 2 * Vector512<byte>.Count)
        {
            var indices = Vector128.Create(
                (byte)0, (byte)1, (byte)stride, (byte)(stride + 1), (byte)(2 * stride), (byte)(2 * stride + 1), (byte)(3 * stride), (byte)(3 * stride + 1),
                (byte)(4 * stride), (byte)(4 * stride + 1), (byte)(5 * stride), (byte)(5 * stride + 1), (byte)(6 * stride), (byte)(6 * stride + 1),
                (byte)(7 * stride), (byte)(7 * stride + 1)).ToVector256().ToVector512();
            var picked = Avx512Vbmi.PermuteVar64x8x2(Vector512.Load(p), indices, Vector512.Load(p + Vector512<byte>.Count));
            return Avx2.ConvertToVector256Int32(picked.GetLower().GetLower().AsUInt16()).AsUInt32();
        }
        return Vector256.Create(
            (uint)*(ushort*)p, *(ushort*)(p + stride), *(ushort*)(p + 2 * stride), *(ushort*)(p + 3 * stride),
            *(ushort*)(p + 4 * stride), *(ushort*)(p + 5 * stride), *(ushort*)(p + 6 * stride), *(ushort*)(p + 7 * stride));
    }

    // The 32-element types: eight blocks to a group, each with its own F16 scale (and Q4_1/Q5_1 an F16 min).
    internal struct Q8_0 : IBlockGroup
    {
        public static int GroupBytes => Blocks * Q8_0Block.Bytes;
        public static bool Signed => true;
        public static bool HasOffset => false;
        public static BlockScales Scales(byte* group) => new(HalfScales(group, Q8_0Block.Bytes), default);
        public static Vector512<byte> Values(byte* group, int pair)
        {
            var block = group + 2 * pair * Q8_0Block.Bytes;
            return Join((sbyte*)block + 2, (sbyte*)block + Q8_0Block.Bytes + 2).AsByte();
        }
    }

    internal struct Q4_0 : IBlockGroup
    {
        public static int GroupBytes => Blocks * Q4_0Block.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        public static BlockScales Scales(byte* group)
        {
            var d = HalfScales(group, Q4_0Block.Bytes);
            return new(d, d * -8);
        }
        public static Vector512<byte> Values(byte* group, int pair)
        {
            var block = group + 2 * pair * Q4_0Block.Bytes;
            return Nibbles(block + 2, block + Q4_0Block.Bytes + 2);
        }
    }

    internal struct Q4_1 : IBlockGroup
    {
        public static int GroupBytes => Blocks * Q4_1Block.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        public static BlockScales Scales(byte* group) => new(HalfScales(group, Q4_1Block.Bytes), Mins(group, Q4_1Block.Bytes));
        public static Vector512<byte> Values(byte* group, int pair)
        {
            var block = group + 2 * pair * Q4_1Block.Bytes;
            return Nibbles(block + 4, block + Q4_1Block.Bytes + 4);
        }
    }

    internal struct Q5_0 : IBlockGroup
    {
        public static int GroupBytes => Blocks * Q5_0Block.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        public static BlockScales Scales(byte* group)
        {
            var d = HalfScales(group, Q5_0Block.Bytes);
            return new(d, d * -16);
        }
        public static Vector512<byte> Values(byte* group, int pair) => FifthBitValues(group + 2 * pair * Q5_0Block.Bytes, 2, 6, Q5_0Block.Bytes);
    }

    internal struct Q5_1 : IBlockGroup
    {
        public static int GroupBytes => Blocks * Q5_1Block.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        public static BlockScales Scales(byte* group) => new(HalfScales(group, Q5_1Block.Bytes), Mins(group, Q5_1Block.Bytes));
        public static Vector512<byte> Values(byte* group, int pair) => FifthBitValues(group + 2 * pair * Q5_1Block.Bytes, 4, 8, Q5_1Block.Bytes);
    }

    // The K-quants: a super-block is a group.

    /// <summary>Q4_K: nibbles at byte 16, 32 bytes per pair of blocks (low nibbles block 2p, high 2p + 1).</summary>
    internal struct Q4_K : IBlockGroup
    {
        public static int GroupBytes => Q4_KBlock.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static BlockScales Scales(byte* group) => AffineScales(group);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<byte> Values(byte* group, int pair) => SplitNibbles(group + 16 + 32 * pair);
    }

    /// <summary>Q5_K: Q4_K's layout with 32 bytes of fifth bits at byte 16 (bit b of byte l: element l of block b).</summary>
    internal struct Q5_K : IBlockGroup
    {
        public static int GroupBytes => Q5_KBlock.Bytes;
        public static bool Signed => false;
        public static bool HasOffset => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static BlockScales Scales(byte* group) => AffineScales(group);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<byte> Values(byte* group, int pair)
        {
            var bits = Broadcast256(group + 16).AsUInt16();
            // Bits 2p (first block) and 2p + 1 (second) to bit 4; shifting 16-bit words moves each byte's own bits into place.
            var shifts = HalfShifts((ushort)(2 * pair), (ushort)(2 * pair + 1));
            var fifth = (Avx512BW.ShiftRightLogicalVariable(bits, shifts).AsByte() & Vector512.Create((byte)1)).AsUInt16() << 4;
            return SplitNibbles(group + 48 + 32 * pair) | fifth.AsByte();
        }
    }

    /// <summary>
    /// Q6_K (<see cref="Q6_KBlock"/>): values q − 32, signed; its int8 scales change every 16 values, so they weigh
    /// the pair sums in the integer multiply, and the float scale per block is d alone.
    /// </summary>
    internal struct Q6_K : IBlockGroup
    {
        public static int GroupBytes => Q6_KBlock.Bytes;
        public static bool Signed => true;
        public static bool HasOffset => false;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static BlockScales Scales(byte* group) => new(Vector256.Create(ElementConversion.HalfToSingle(*(Half*)(group + 208))), default);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<byte> Values(byte* group, int pair)
        {
            // Half h holds blocks 4h .. 4h + 3: ql's 64 bytes give blocks 4h and 4h + 1 in their low nibbles, 4h + 2
            // and 4h + 3 in the high; qh's 32 bytes give each block's two high bits (pairs 0, 2, 4, 6), moved to bits 4–5.
            int half = pair >> 1;
            var ql = Vector512.Load(group + 64 * half);
            var qh = Broadcast256(group + 128 + 32 * half).AsUInt16();
            Vector512<byte> low, high;
            if ((pair & 1) == 0)
            {
                low = ql & Vector512.Create((byte)0x0F);
                high = Avx512BW.ShiftLeftLogicalVariable(qh, HalfShifts(4, 2)).AsByte();
            }
            else
            {
                low = (ql.AsUInt16() >> 4).AsByte() & Vector512.Create((byte)0x0F);
                high = Avx512BW.ShiftRightLogicalVariable(qh, HalfShifts(0, 2)).AsByte();
            }
            return (low | high & Vector512.Create((byte)0x30)) - Vector512.Create((byte)32);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<short> PairWeights(byte* group, int pair)
        {
            // The four scales of blocks 2p and 2p + 1, each over the eight pair sums of its 16 values.
            var scales = Avx2.ConvertToVector256Int16(Vector128.CreateScalar(*(int*)(group + 192 + 4 * pair)).AsSByte());
            return Avx512BW.PermuteVar32x16(scales.ToVector512Unsafe(), Vector512.Create(
                (short)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        }
    }

    // Q4_K and Q5_K: F16 d and dmin, then 12 bytes packing eight 6-bit scales and eight 6-bit mins — bytes 0–3 hold
    // scales 0–3 and bytes 4–7 mins 0–3 in their low six bits, bytes 8–11 the low four bits of scales 4–7 (low
    // nibble) and mins 4–7 (high), and the top two bits of bytes 0–3 and 4–7 the high bits of scales and mins 4–7.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static BlockScales AffineScales(byte* group)
    {
        uint a = *(uint*)(group + 4), b = *(uint*)(group + 8), c = *(uint*)(group + 12);
        uint scalesLow = a & 0x3F3F3F3F, minsLow = b & 0x3F3F3F3F;
        uint scalesHigh = c & 0x0F0F0F0F | a >> 2 & 0x30303030, minsHigh = c >> 4 & 0x0F0F0F0F | b >> 2 & 0x30303030;
        var six = Vector128.Create(scalesLow, scalesHigh, minsLow, minsHigh).AsByte();
        var scales = Vector256.ConvertToSingle(Avx2.ConvertToVector256Int32(six));
        var mins = Vector256.ConvertToSingle(Avx2.ConvertToVector256Int32(Vector128.Shuffle(six.AsUInt64(), Vector128.Create(1UL, 0)).AsByte()));
        float d = ElementConversion.HalfToSingle(*(Half*)group), dmin = ElementConversion.HalfToSingle(*(Half*)(group + 2));
        return new(scales * d, mins * -dmin);
    }

    // 32 bytes at p in both halves. Not vbroadcasti64x4 from memory: .NET 10's JIT encodes its displacement as if
    // the operand were 16 bytes (EVEX disp8 scaled by 16, which the CPU scales by 32), so group + 16 read group + 32.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> Broadcast256(byte* p)
    {
        var half = Vector256.Load(p);
        return Avx512F.InsertVector256(half.ToVector512Unsafe(), half, 1);
    }

    // Shift counts for the 16-bit words of a 512-bit vector's lower and upper halves.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<ushort> HalfShifts(ushort lower, ushort upper) => Vector512.Create(Vector256.Create(lower), Vector256.Create(upper));

    // 32 bytes of nibbles as 64 values: the low nibbles (block 2p), then the high (block 2p + 1).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> SplitNibbles(byte* packed)
    {
        var both = Broadcast256(packed).AsUInt16();
        return Avx512BW.ShiftRightLogicalVariable(both, HalfShifts(0, 4)).AsByte() & Vector512.Create((byte)0x0F);
    }
}
