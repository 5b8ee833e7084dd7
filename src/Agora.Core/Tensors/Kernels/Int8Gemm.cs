using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Agora.Tensors.Quantization;

namespace Agora.Tensors.Kernels;

/// <summary>
/// Integer products for several tokens over the weight types whose values are integers q with a scale d and an
/// offset m per 32 values (w = d·q + m: Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K with small unsigned q; Q8_0 with signed
/// 8-bit q and no offset), against activations quantized to int8 blocks (<see cref="Int8Block"/>: a ≈ D·qa). A panel
/// of rows is first repacked (<see cref="Pack"/>) so that one vector holds a group of consecutive q of each of 16
/// (AVX-512) or 8 (AVX2) rows; the group's activation values, broadcast to every lane, then multiply all those rows
/// at once. Small unsigned q go as bytes, four to a group, through vpmaddubsw, whose 16-bit pair sums of several
/// groups are added before they are widened to 32 bits — exactly: a pair sum is at most 2·15·127 = 3810 for 4-bit
/// q, so eight fit in 16 bits, and 2·31·127 = 7874 for 5-bit q, so four do. Q8_0's signed q cannot be the unsigned
/// operand of vpmaddubsw, so they go as 16-bit words, two to a group, against 16-bit activations through vpmaddwd
/// (.NET 10 offers no 512-bit VNNI on CPUs without AVX10). Q6_K goes as words too, its int8 scale per 16 values
/// multiplied into them when packing ((q − 32)·s, |·| ≤ 32·128 = 4096, so a pair sum stays below 2²⁰), which leaves
/// the super-block's d as the one float scale of each 32 values. Per 32-value block, row vector and token that is eight
/// (sixteen) multiplies with their adds and three float operations, Σ d·D·(q·qa) + m·D·Σqa, where the float path
/// spends 32 multiply-adds; lanes are rows, so there are no horizontal sums and outputs are stored as vectors. Every
/// output takes the same operations whatever tile it falls in, so results do not depend on how rows and tokens are
/// split.
/// </summary>
internal static unsafe class Int8Gemm
{
    /// <summary>Whether this width has an integer kernel for the type (AVX2 at least; otherwise rows are decoded to float).</summary>
    public static bool Supports(GgmlType type, SimdWidth width) =>
        type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K
        && (width == SimdWidth.V512 && Avx512BW.IsSupported || width == SimdWidth.V256 && Avx2.IsSupported);

    /// <summary>Whether the type's q go as 16-bit words (against activations widened by <see cref="Int8Block.Widen"/>).</summary>
    public static bool Words(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q6_K;

    /// <summary>
    /// Rows in a panel: two row vectors, 16 rows each with AVX-512, 8 with AVX2. A tile is those rows × four tokens at
    /// both widths: with AVX2's 16 registers some accumulators then live in L1, which measured faster than the
    /// smaller tiles (8 × 3, 16 × 2) that fit.
    /// </summary>
    public static int PanelRows(SimdWidth width) => width == SimdWidth.V512 ? 32 : 16;

    /// <summary>A packed panel's size: per 32-value block, 32 bytes of q (64 as words), a float d and a float m for each row.</summary>
    public static int PanelBytes(GgmlType type, int panelRows, int blocks) => blocks * BlockBytes(Groups(type), panelRows);

    /// <summary>Four-byte groups of q per 32-value block: four bytes each, or two words.</summary>
    static int Groups(GgmlType type) => Words(type) ? 16 : 8;

    static int BlockBytes(int groups, int panelRows) => (4 * groups + 8) * panelRows;

    /// <summary>
    /// Repacks <paramref name="count"/> rows (at most <paramref name="panelRows"/>) of <paramref name="blocks"/>
    /// 32-value blocks each: per block, the groups of every row's consecutive q, then the rows' d, then their m.
    /// Missing rows of a short panel are zeros, so their lanes compute zeros that are never stored. Eight rows go at a
    /// time: their blocks' q, eight 32-bit groups to a vector, are transposed in registers into eight stores.
    /// </summary>
    public static void Pack(GgmlType type, byte* rows, long rowBytes, int count, int panelRows, int blocks, byte* panel)
    {
        int groups = Groups(type), stride = BlockBytes(groups, panelRows);
        var low = stackalloc Vector256<uint>[8];
        var high = stackalloc Vector256<uint>[8];
        for (int r0 = 0; r0 < panelRows; r0 += 8)
            for (int b = 0; b < blocks; b++)
            {
                byte* block = panel + b * stride;
                float* d = (float*)(block + 4 * groups * panelRows) + r0, m = d + panelRows;
                for (int i = 0; i < 8; i++)
                {
                    if (r0 + i < count && groups == 16)
                    {
                        (var words, d[i]) = UnpackWords(type, rows + (r0 + i) * rowBytes, b);
                        (low[i], high[i], m[i]) = (words.Low.AsUInt32(), words.High.AsUInt32(), 0);
                    }
                    else if (r0 + i < count)
                    {
                        (var values, d[i], m[i]) = Unpack(type, rows + (r0 + i) * rowBytes, b);
                        low[i] = values.AsUInt32();
                    }
                    else (low[i], high[i], d[i], m[i]) = (default, default, 0, 0);
                }
                Transpose8(low);
                for (int g = 0; g < 8; g++) low[g].Store((uint*)(block + (g * panelRows + r0) * 4));
                if (groups == 8) continue;
                Transpose8(high);
                for (int g = 0; g < 8; g++) high[g].Store((uint*)(block + ((g + 8) * panelRows + r0) * 4));
            }
    }

    /// <summary>Transposes eight vectors of eight 32-bit values in place (AVX2 unpacks and lane swaps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8(Vector256<uint>* v)
    {
        var t0 = Avx2.UnpackLow(v[0], v[1]); var t1 = Avx2.UnpackHigh(v[0], v[1]);
        var t2 = Avx2.UnpackLow(v[2], v[3]); var t3 = Avx2.UnpackHigh(v[2], v[3]);
        var t4 = Avx2.UnpackLow(v[4], v[5]); var t5 = Avx2.UnpackHigh(v[4], v[5]);
        var t6 = Avx2.UnpackLow(v[6], v[7]); var t7 = Avx2.UnpackHigh(v[6], v[7]);
        var u0 = Avx2.UnpackLow(t0.AsUInt64(), t2.AsUInt64()).AsUInt32(); var u1 = Avx2.UnpackHigh(t0.AsUInt64(), t2.AsUInt64()).AsUInt32();
        var u2 = Avx2.UnpackLow(t1.AsUInt64(), t3.AsUInt64()).AsUInt32(); var u3 = Avx2.UnpackHigh(t1.AsUInt64(), t3.AsUInt64()).AsUInt32();
        var u4 = Avx2.UnpackLow(t4.AsUInt64(), t6.AsUInt64()).AsUInt32(); var u5 = Avx2.UnpackHigh(t4.AsUInt64(), t6.AsUInt64()).AsUInt32();
        var u6 = Avx2.UnpackLow(t5.AsUInt64(), t7.AsUInt64()).AsUInt32(); var u7 = Avx2.UnpackHigh(t5.AsUInt64(), t7.AsUInt64()).AsUInt32();
        v[0] = Avx2.Permute2x128(u0, u4, 0x20); v[4] = Avx2.Permute2x128(u0, u4, 0x31);
        v[1] = Avx2.Permute2x128(u1, u5, 0x20); v[5] = Avx2.Permute2x128(u1, u5, 0x31);
        v[2] = Avx2.Permute2x128(u2, u6, 0x20); v[6] = Avx2.Permute2x128(u2, u6, 0x31);
        v[3] = Avx2.Permute2x128(u3, u7, 0x20); v[7] = Avx2.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>Block <paramref name="b"/> (32 values) of a row of a type packed as words: q in element order, and d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ((Vector256<short> Low, Vector256<short> High) Q, float D) UnpackWords(GgmlType type, byte* row, int b)
    {
        if (type == GgmlType.Q8_0)
        {
            var block = (Q8_0Block*)row + b;
            return (Vector256.Widen(Vector256.Load(block->Qs)), ElementConversion.HalfToSingle(block->D));
        }
        // Q6_K: q − 32 of block j of its super-block, each 16 values times their scale (2j, then 2j + 1).
        var super = (Q6_KBlock*)row + b / 8;
        int j = b % 8;
        var (first, second) = Vector256.Widen((QuantizedDot.Q6_KValues(super, j) - Vector256.Create((byte)32)).AsSByte());
        return ((first * super->Scales[2 * j], second * super->Scales[2 * j + 1]), ElementConversion.HalfToSingle(super->D));
    }

    /// <summary>Block <paramref name="b"/> (32 values) of a row of a type packed as bytes: q in element order, d and m.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<byte> Q, float D, float M) Unpack(GgmlType type, byte* row, int b)
    {
        switch (type)
        {
            case GgmlType.Q4_0:
            {
                var block = (Q4_0Block*)row + b;
                float d = ElementConversion.HalfToSingle(block->D);
                return (QuantizedDot.Nibbles(block->Qs), d, -8 * d);
            }
            case GgmlType.Q4_1:
            {
                var block = (Q4_1Block*)row + b;
                return (QuantizedDot.Nibbles(block->Qs), ElementConversion.HalfToSingle(block->D), ElementConversion.HalfToSingle(block->M));
            }
            case GgmlType.Q5_0:
            {
                var block = (Q5_0Block*)row + b;
                float d = ElementConversion.HalfToSingle(block->D);
                return (QuantizedDot.Nibbles(block->Qs) | QuantizedDot.HighBits(block->Qh), d, -16 * d);
            }
            case GgmlType.Q5_1:
            {
                var block = (Q5_1Block*)row + b;
                return (QuantizedDot.Nibbles(block->Qs) | QuantizedDot.HighBits(block->Qh),
                    ElementConversion.HalfToSingle(block->D), ElementConversion.HalfToSingle(block->M));
            }
            default:
            {
                // Q4_K, Q5_K: group g of a 256-value super-block; nibbles of 32 bytes serve groups 2i (low) and 2i+1 (high).
                bool fifthBit = type == GgmlType.Q5_K;
                int blockBytes = fifthBit ? Q5_KBlock.Bytes : Q4_KBlock.Bytes, g = b % 8;
                byte* start = row + b / 8 * blockBytes;
                var super = (Q4_KBlock*)start; // d, dmin and scales sit at the same offsets in both types
                var (scale, min) = KQuantSearch.ScaleMinK4(g, new ReadOnlySpan<byte>(super->Scales, 12));
                var packed = Vector256.Load(start + (fifthBit ? 48 : 16) + g / 2 * 32);
                var q = (g % 2 == 0 ? packed : Vector256.ShiftRightLogical(packed.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F);
                if (fifthBit) q |= QuantizedDot.BitSet(Vector256.Load(start + 16), (byte)(1 << g));
                return (q, ElementConversion.HalfToSingle(super->D) * scale, -ElementConversion.HalfToSingle(super->DMin) * min);
            }
        }
    }

    /// <summary>
    /// y[t·yStride + r] for r &lt; <paramref name="rows"/> (the panel's real rows) and t &lt; tokens, from a panel
    /// <see cref="Pack"/> made, the tokens' activation blocks (<paramref name="blocks"/> per token) and, for the
    /// types whose q go as words, the activations widened to 16 bits.
    /// </summary>
    public static void Product(GgmlType type, byte* panel, int rows, int blocks, Int8Block* x, short* words, int tokens, float* y, int yStride, SimdWidth width)
    {
        var tile = new TileArgs { Panel = panel, Rows = rows, Blocks = blocks, X = x, Words = words, Y = y, YStride = yStride };
        if (width == SimdWidth.V512)
            switch (type)
            {
                case GgmlType.Q8_0 or GgmlType.Q6_K: Tokens<Bytes512, Vector512<byte>, Two, Four, Words16>(tile, tokens); break;
                case GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q5_K: Tokens<Bytes512, Vector512<byte>, Two, Four, Bytes5>(tile, tokens); break;
                default: Tokens<Bytes512, Vector512<byte>, Two, Four, Bytes4>(tile, tokens); break;
            }
        else
            switch (type)
            {
                case GgmlType.Q8_0 or GgmlType.Q6_K: Tokens<Bytes256, Vector256<byte>, Two, Four, Words16>(tile, tokens); break;
                case GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q5_K: Tokens<Bytes256, Vector256<byte>, Two, Four, Bytes5>(tile, tokens); break;
                default: Tokens<Bytes256, Vector256<byte>, Two, Four, Bytes4>(tile, tokens); break;
            }
    }

    /// <summary>A tile run's operands (the tokens' pointers advanced per tile).</summary>
    struct TileArgs
    {
        public byte* Panel;
        public Int8Block* X;
        public short* Words;
        public float* Y;
        public int Rows, Blocks, YStride;

        public readonly TileArgs From(int token) => this with
        {
            X = X + (long)token * Blocks, Words = Words + (long)token * Blocks * Int8Block.Elements, Y = Y + (long)token * YStride,
        };
    }

    static void Tokens<TL, TV, TR, TC, TK>(TileArgs tile, int tokens)
        where TL : struct, IByteLanes<TV> where TV : unmanaged where TR : struct, ICount where TC : struct, ICount where TK : struct, IKind
    {
        int t = 0;
        for (; t + TC.N <= tokens; t += TC.N) Tile<TL, TV, TR, TC, TK>(tile.From(t));
        switch (tokens - t)
        {
            case 0: break;
            case 1: Tile<TL, TV, TR, One, TK>(tile.From(t)); break;
            case 2: Tile<TL, TV, TR, Two, TK>(tile.From(t)); break;
            default: Tile<TL, TV, TR, Three, TK>(tile.From(t)); break;
        }
    }

    /// <summary>
    /// The panel's TR.N row vectors (at most two) × TC.N tokens (at most four), for q of kind TK. Counts and kinds
    /// are constants of each instantiation, so unused accumulators and the branches on them are compiled away.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile<TL, TV, TR, TC, TK>(TileArgs tile)
        where TL : struct, IByteLanes<TV> where TV : unmanaged where TR : struct, ICount where TC : struct, ICount where TK : struct, IKind
    {
        int V = TR.N, C = TC.N, groups = TK.Groups, run = TK.Run, lanes = TL.Rows, panelRows = V * lanes, blocks = tile.Blocks;
        TV f00 = default, f01 = default, f02 = default, f03 = default, f10 = default, f11 = default, f12 = default, f13 = default;
        byte* p = tile.Panel;
        for (int b = 0; b < blocks; b++, p += BlockBytes(groups, panelRows))
        {
            Int8Block* a0 = tile.X + b, a1 = a0 + blocks, a2 = a1 + blocks, a3 = a2 + blocks;
            // The four-byte groups of activation values: int8 bytes, or the same widened to 16-bit words.
            uint* q0 = TK.Words ? (uint*)(tile.Words + b * Int8Block.Elements) : (uint*)a0->Qs;
            uint* q1 = TK.Words ? q0 + blocks * Int8Block.Elements / 2 : (uint*)a1->Qs;
            uint* q2 = TK.Words ? q1 + blocks * Int8Block.Elements / 2 : (uint*)a2->Qs;
            uint* q3 = TK.Words ? q2 + blocks * Int8Block.Elements / 2 : (uint*)a3->Qs;
            TV s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
            for (int first = 0; first < groups; first += run)
            {
                TV h00 = default, h01 = default, h02 = default, h03 = default, h10 = default, h11 = default, h12 = default, h13 = default;
                for (int g = first; g < first + run; g++)
                {
                    byte* q = p + g * 4 * panelRows;
                    TV w0 = TL.Load(q), w1 = V > 1 ? TL.Load(q + 4 * lanes) : default;
                    TV a = TL.Broadcast(q0[g]);
                    h00 = MultiplyAdd<TL, TV, TK>(w0, a, h00); if (V > 1) h10 = MultiplyAdd<TL, TV, TK>(w1, a, h10);
                    if (C > 1) { a = TL.Broadcast(q1[g]); h01 = MultiplyAdd<TL, TV, TK>(w0, a, h01); if (V > 1) h11 = MultiplyAdd<TL, TV, TK>(w1, a, h11); }
                    if (C > 2) { a = TL.Broadcast(q2[g]); h02 = MultiplyAdd<TL, TV, TK>(w0, a, h02); if (V > 1) h12 = MultiplyAdd<TL, TV, TK>(w1, a, h12); }
                    if (C > 3) { a = TL.Broadcast(q3[g]); h03 = MultiplyAdd<TL, TV, TK>(w0, a, h03); if (V > 1) h13 = MultiplyAdd<TL, TV, TK>(w1, a, h13); }
                }
                s00 = Widen<TL, TV, TK>(s00, h00); if (V > 1) s10 = Widen<TL, TV, TK>(s10, h10);
                if (C > 1) { s01 = Widen<TL, TV, TK>(s01, h01); if (V > 1) s11 = Widen<TL, TV, TK>(s11, h11); }
                if (C > 2) { s02 = Widen<TL, TV, TK>(s02, h02); if (V > 1) s12 = Widen<TL, TV, TK>(s12, h12); }
                if (C > 3) { s03 = Widen<TL, TV, TK>(s03, h03); if (V > 1) s13 = Widen<TL, TV, TK>(s13, h13); }
            }
            float* dm = (float*)(p + 4 * groups * panelRows);
            TV d0 = TL.Load(dm), m0 = TL.Load(dm + panelRows);
            TV d1 = V > 1 ? TL.Load(dm + lanes) : default, m1 = V > 1 ? TL.Load(dm + panelRows + lanes) : default;
            f00 = Scale<TL, TV, TK>(s00, d0, m0, a0, f00); if (V > 1) f10 = Scale<TL, TV, TK>(s10, d1, m1, a0, f10);
            if (C > 1) { f01 = Scale<TL, TV, TK>(s01, d0, m0, a1, f01); if (V > 1) f11 = Scale<TL, TV, TK>(s11, d1, m1, a1, f11); }
            if (C > 2) { f02 = Scale<TL, TV, TK>(s02, d0, m0, a2, f02); if (V > 1) f12 = Scale<TL, TV, TK>(s12, d1, m1, a2, f12); }
            if (C > 3) { f03 = Scale<TL, TV, TK>(s03, d0, m0, a3, f03); if (V > 1) f13 = Scale<TL, TV, TK>(s13, d1, m1, a3, f13); }
        }
        float* y = tile.Y;
        Store<TL, TV, TR>(y, f00, f10, tile.Rows);
        if (C > 1) Store<TL, TV, TR>(y + tile.YStride, f01, f11, tile.Rows);
        if (C > 2) Store<TL, TV, TR>(y + 2 * tile.YStride, f02, f12, tile.Rows);
        if (C > 3) Store<TL, TV, TR>(y + 3 * tile.YStride, f03, f13, tile.Rows);
    }

    /// <summary>One group's products added to a run's sums: 16-bit pair sums of bytes, or 32-bit of words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV MultiplyAdd<TL, TV, TK>(TV q, TV a, TV sums) where TL : struct, IByteLanes<TV> where TV : unmanaged where TK : struct, IKind =>
        TK.Words ? TL.MultiplyAddWords(q, a, sums) : TL.MultiplyAddBytes(q, a, sums);

    /// <summary>A run's sums added to the block's 32-bit sums (bytes' 16-bit pair sums widened first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV Widen<TL, TV, TK>(TV sums, TV run) where TL : struct, IByteLanes<TV> where TV : unmanaged where TK : struct, IKind =>
        TK.Words ? TL.AddInts(sums, run) : TL.AddWidened(sums, run);

    /// <summary>acc + d·D·sums, + m·D·Σqa for the kinds with an offset.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV Scale<TL, TV, TK>(TV sums, TV d, TV m, Int8Block* a, TV acc) where TL : struct, IByteLanes<TV> where TV : unmanaged where TK : struct, IKind
    {
        acc = TL.MultiplyAdd(TL.ToSingle(sums), TL.Multiply(d, TL.Broadcast(a->D)), acc);
        return TK.Offset ? TL.MultiplyAdd(m, TL.Broadcast(a->D * a->Sum), acc) : acc;
    }

    /// <summary>One token's outputs: the first <paramref name="rows"/> lanes of the row vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store<TL, TV, TR>(float* y, TV f0, TV f1, int rows) where TL : struct, IByteLanes<TV> where TV : unmanaged where TR : struct, ICount
    {
        Store<TL, TV>(y, f0, rows);
        if (TR.N > 1) Store<TL, TV>(y + TL.Rows, f1, rows - TL.Rows);
    }

    /// <summary>The first <paramref name="count"/> lanes (all when there are more) of a float vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store<TL, TV>(float* y, TV v, int count) where TL : struct, IByteLanes<TV> where TV : unmanaged
    {
        if (count >= TL.Rows) TL.Store(y, v);
        else for (int i = 0; i < count; i++) y[i] = ((float*)&v)[i];
    }

    /// <summary>How a type's q are multiplied: groups per block, groups per 16-bit run, words or bytes, an offset or none.</summary>
    interface IKind
    {
        static abstract int Groups { get; }
        static abstract int Run { get; }
        static abstract bool Words { get; }
        static abstract bool Offset { get; }
    }

    /// <summary>Unsigned q of at most four bits: eight groups of four bytes, all summed in 16 bits.</summary>
    struct Bytes4 : IKind
    {
        public static int Groups => 8;
        public static int Run => 8;
        public static bool Words => false;
        public static bool Offset => true;
    }

    /// <summary>Unsigned q of five bits: eight groups of four bytes, four at a time summed in 16 bits.</summary>
    struct Bytes5 : IKind
    {
        public static int Groups => 8;
        public static int Run => 4;
        public static bool Words => false;
        public static bool Offset => true;
    }

    /// <summary>Signed q as 16-bit words (Q8_0's, Q6_K's scaled): sixteen groups of two, summed in 32 bits; no offset.</summary>
    struct Words16 : IKind
    {
        public static int Groups => 16;
        public static int Run => 16;
        public static bool Words => true;
        public static bool Offset => false;
    }

    /// <summary>A vector width's operations on one raw vector type (bytes, 16- and 32-bit integers and floats are
    /// reinterpretations of the same register), so one tile kernel serves AVX-512 and AVX2.</summary>
    interface IByteLanes<TV> where TV : unmanaged
    {
        /// <summary>32-bit lanes: rows per vector.</summary>
        static abstract int Rows { get; }
        static abstract TV Load(void* p);
        static abstract TV Broadcast(uint fourBytes);
        static abstract TV Broadcast(float value);
        /// <summary>sums + the 16-bit pair sums of unsigned <paramref name="q"/> times signed <paramref name="a"/> bytes.</summary>
        static abstract TV MultiplyAddBytes(TV q, TV a, TV sums);
        /// <summary>sums + the 32-bit pair sums of signed 16-bit <paramref name="q"/> times <paramref name="a"/>.</summary>
        static abstract TV MultiplyAddWords(TV q, TV a, TV sums);
        /// <summary>sums (32-bit) + adjacent pairs of the 16-bit <paramref name="pairs"/>.</summary>
        static abstract TV AddWidened(TV sums, TV pairs);
        static abstract TV AddInts(TV a, TV b);
        static abstract TV ToSingle(TV ints);
        static abstract TV Multiply(TV a, TV b);
        static abstract TV MultiplyAdd(TV a, TV b, TV c);
        static abstract void Store(float* p, TV v);
    }

    struct Bytes512 : IByteLanes<Vector512<byte>>
    {
        public static int Rows => Vector512<int>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<byte> Load(void* p) => Vector512.Load((byte*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<byte> Broadcast(uint fourBytes) => Vector512.Create(fourBytes).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<byte> Broadcast(float value) => Vector512.Create(value).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<byte> MultiplyAddBytes(Vector512<byte> q, Vector512<byte> a, Vector512<byte> sums) =>
            (sums.AsInt16() + Avx512BW.MultiplyAddAdjacent(q, a.AsSByte())).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<byte> MultiplyAddWords(Vector512<byte> q, Vector512<byte> a, Vector512<byte> sums) =>
            (sums.AsInt32() + Avx512BW.MultiplyAddAdjacent(q.AsInt16(), a.AsInt16())).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<byte> AddWidened(Vector512<byte> sums, Vector512<byte> pairs) =>
            (sums.AsInt32() + Avx512BW.MultiplyAddAdjacent(pairs.AsInt16(), Vector512.Create((short)1))).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<byte> AddInts(Vector512<byte> a, Vector512<byte> b) => (a.AsInt32() + b.AsInt32()).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<byte> ToSingle(Vector512<byte> ints) => Vector512.ConvertToSingle(ints.AsInt32()).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<byte> Multiply(Vector512<byte> a, Vector512<byte> b) => (a.AsSingle() * b.AsSingle()).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<byte> MultiplyAdd(Vector512<byte> a, Vector512<byte> b, Vector512<byte> c) =>
            Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector512<byte> v) => v.AsSingle().Store(p);
    }

    struct Bytes256 : IByteLanes<Vector256<byte>>
    {
        public static int Rows => Vector256<int>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<byte> Load(void* p) => Vector256.Load((byte*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<byte> Broadcast(uint fourBytes) => Vector256.Create(fourBytes).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<byte> Broadcast(float value) => Vector256.Create(value).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> MultiplyAddBytes(Vector256<byte> q, Vector256<byte> a, Vector256<byte> sums) =>
            (sums.AsInt16() + Avx2.MultiplyAddAdjacent(q, a.AsSByte())).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> MultiplyAddWords(Vector256<byte> q, Vector256<byte> a, Vector256<byte> sums) =>
            (sums.AsInt32() + Avx2.MultiplyAddAdjacent(q.AsInt16(), a.AsInt16())).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> AddWidened(Vector256<byte> sums, Vector256<byte> pairs) =>
            (sums.AsInt32() + Avx2.MultiplyAddAdjacent(pairs.AsInt16(), Vector256.Create((short)1))).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<byte> AddInts(Vector256<byte> a, Vector256<byte> b) => (a.AsInt32() + b.AsInt32()).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<byte> ToSingle(Vector256<byte> ints) => Vector256.ConvertToSingle(ints.AsInt32()).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<byte> Multiply(Vector256<byte> a, Vector256<byte> b) => (a.AsSingle() * b.AsSingle()).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> MultiplyAdd(Vector256<byte> a, Vector256<byte> b, Vector256<byte> c) =>
            Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector256<byte> v) => v.AsSingle().Store(p);
    }
}
