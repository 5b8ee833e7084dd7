using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Agora.Tensors.Kernels;

/// <summary>
/// Register-tiled float products, in the manner of llamafile's tinyBLAS: y[t, o] = w[o]·x[t] for a panel of weight
/// rows against a run of activation rows, both stored along the shared dimension n. A tile of R rows × C tokens
/// keeps R·C vector accumulators, so every weight vector loaded serves C tokens and every activation vector R rows,
/// and lanes are summed once per output, at the tile's end, a token's R accumulators reduced together by shuffles
/// (a horizontal sum each had cost a fifth of the time at n = 576). Each output takes the same operations whatever
/// tile it falls in (lane-wise multiply-adds over k, one fixed reduction tree, a scalar tail), so results depend
/// neither on how rows and tokens are split among threads nor on how many tokens came together. Tiles fit the
/// register file: 8×3 of 32 AVX-512 registers, 4×3 of 16.
/// </summary>
internal static unsafe class FloatGemm
{
    /// <summary>Rows a caller should hand over at once (a decoded panel's height) for full tiles at this width.</summary>
    public static int PanelRows(SimdWidth width) => width == SimdWidth.V512 ? Eight.N : Four.N;

    /// <summary>
    /// y[t·yStride + r] = w[r·n ..]·x[t·n ..] for r &lt; rows, t &lt; tokens.
    /// </summary>
    public static void Product(float* w, int rows, float* x, int tokens, int n, float* y, int yStride, SimdWidth width)
    {
        switch (width)
        {
            case SimdWidth.V512: Panel<Lanes512, Vector512<float>, Eight, Three>(w, rows, x, tokens, n, y, yStride); break;
            case SimdWidth.V256: Panel<Lanes256, Vector256<float>, Four, Three>(w, rows, x, tokens, n, y, yStride); break;
            case SimdWidth.V128: Panel<Lanes128, Vector128<float>, Four, Three>(w, rows, x, tokens, n, y, yStride); break;
            default: Panel<Lanes1, float, One, One>(w, rows, x, tokens, n, y, yStride); break;
        }
    }

    static void Panel<TL, TV, TR, TC>(float* w, int rows, float* x, int tokens, int n, float* y, int yStride)
        where TL : struct, ILanes<TV> where TV : unmanaged where TR : struct, ICount where TC : struct, ICount
    {
        int r = 0;
        for (; r + TR.N <= rows; r += TR.N) RowGroup<TL, TV, TR, TC>(w + (long)r * n, x, tokens, n, y + r, yStride);
        for (; r < rows; r++) RowGroup<TL, TV, One, TC>(w + (long)r * n, x, tokens, n, y + r, yStride);
    }

    static void RowGroup<TL, TV, TR, TC>(float* w, float* x, int tokens, int n, float* y, int yStride)
        where TL : struct, ILanes<TV> where TV : unmanaged where TR : struct, ICount where TC : struct, ICount
    {
        int t = 0;
        for (; t + TC.N <= tokens; t += TC.N) Tile<TL, TV, TR, TC>(w, x + (long)t * n, n, y + (long)t * yStride, yStride);
        switch (tokens - t)
        {
            case 0: break;
            case 1: Tile<TL, TV, TR, One>(w, x + (long)t * n, n, y + (long)t * yStride, yStride); break;
            case 2: Tile<TL, TV, TR, Two>(w, x + (long)t * n, n, y + (long)t * yStride, yStride); break;
            default: Tile<TL, TV, TR, Three>(w, x + (long)t * n, n, y + (long)t * yStride, yStride); break;
        }
    }

    /// <summary>One tile of TR.N rows × TC.N tokens (at most 8 × 3): the accumulators the counts leave unused are
    /// compiled away, as are the branches on the counts (constants of each instantiation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile<TL, TV, TR, TC>(float* w, float* x, int n, float* y, int yStride)
        where TL : struct, ILanes<TV> where TV : unmanaged where TR : struct, ICount where TC : struct, ICount
    {
        int R = TR.N, C = TC.N;
        float* w0 = w, w1 = w0 + n, w2 = w1 + n, w3 = w2 + n, w4 = w3 + n, w5 = w4 + n, w6 = w5 + n, w7 = w6 + n;
        float* x0 = x, x1 = x0 + n, x2 = x1 + n;
        TV c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
        TV c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
        TV c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default;
        TV c60 = default, c61 = default, c62 = default, c70 = default, c71 = default, c72 = default;
        int k = 0;
        for (; k <= n - TL.Count; k += TL.Count)
        {
            TV a0 = TL.Load(x0 + k), a1 = C > 1 ? TL.Load(x1 + k) : default, a2 = C > 2 ? TL.Load(x2 + k) : default;
            TV v = TL.Load(w0 + k);
            c00 = TL.MultiplyAdd(v, a0, c00); if (C > 1) c01 = TL.MultiplyAdd(v, a1, c01); if (C > 2) c02 = TL.MultiplyAdd(v, a2, c02);
            if (R > 1)
            {
                v = TL.Load(w1 + k);
                c10 = TL.MultiplyAdd(v, a0, c10); if (C > 1) c11 = TL.MultiplyAdd(v, a1, c11); if (C > 2) c12 = TL.MultiplyAdd(v, a2, c12);
            }
            if (R > 2)
            {
                v = TL.Load(w2 + k);
                c20 = TL.MultiplyAdd(v, a0, c20); if (C > 1) c21 = TL.MultiplyAdd(v, a1, c21); if (C > 2) c22 = TL.MultiplyAdd(v, a2, c22);
            }
            if (R > 3)
            {
                v = TL.Load(w3 + k);
                c30 = TL.MultiplyAdd(v, a0, c30); if (C > 1) c31 = TL.MultiplyAdd(v, a1, c31); if (C > 2) c32 = TL.MultiplyAdd(v, a2, c32);
            }
            if (R > 4)
            {
                v = TL.Load(w4 + k);
                c40 = TL.MultiplyAdd(v, a0, c40); if (C > 1) c41 = TL.MultiplyAdd(v, a1, c41); if (C > 2) c42 = TL.MultiplyAdd(v, a2, c42);
            }
            if (R > 5)
            {
                v = TL.Load(w5 + k);
                c50 = TL.MultiplyAdd(v, a0, c50); if (C > 1) c51 = TL.MultiplyAdd(v, a1, c51); if (C > 2) c52 = TL.MultiplyAdd(v, a2, c52);
            }
            if (R > 6)
            {
                v = TL.Load(w6 + k);
                c60 = TL.MultiplyAdd(v, a0, c60); if (C > 1) c61 = TL.MultiplyAdd(v, a1, c61); if (C > 2) c62 = TL.MultiplyAdd(v, a2, c62);
            }
            if (R > 7)
            {
                v = TL.Load(w7 + k);
                c70 = TL.MultiplyAdd(v, a0, c70); if (C > 1) c71 = TL.MultiplyAdd(v, a1, c71); if (C > 2) c72 = TL.MultiplyAdd(v, a2, c72);
            }
        }
        TL.Sums(y, R, c00, c10, c20, c30, c40, c50, c60, c70);
        if (C > 1) TL.Sums(y + yStride, R, c01, c11, c21, c31, c41, c51, c61, c71);
        if (C > 2) TL.Sums(y + 2 * yStride, R, c02, c12, c22, c32, c42, c52, c62, c72);
        if (k < n)
            for (int j = 0; j < C; j++)
                for (int i = 0; i < R; i++) y[j * yStride + i] += Tail(w + i * n, x + j * n, k, n);
    }

    static float Tail(float* w, float* x, int k, int n)
    {
        float sum = 0;
        for (; k < n; k++) sum += w[k] * x[k];
        return sum;
    }

    /// <summary>A vector type's operations, so one tile kernel serves every width (each instantiation is
    /// compiled for its own struct, the calls inlined).</summary>
    interface ILanes<TV> where TV : unmanaged
    {
        static abstract int Count { get; }
        static abstract TV Load(float* p);
        static abstract TV MultiplyAdd(TV a, TV b, TV c);

        /// <summary>
        /// y[i] = the sum of the lanes of accumulator i, for i &lt; count (at most eight; four below 512 bits). The
        /// accumulators are reduced together — halves of pairs swapped and added, then quarters, and so on — which
        /// costs a few shuffles per accumulator instead of a full horizontal sum each. Every accumulator's lanes go
        /// through the same tree whatever the count, so a result does not depend on its tile.
        /// </summary>
        static abstract void Sums(float* y, int count, TV c0, TV c1, TV c2, TV c3, TV c4, TV c5, TV c6, TV c7);
    }

    struct Lanes512 : ILanes<Vector512<float>>
    {
        public static int Count => Vector512<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums(float* y, int count, Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3,
            Vector512<float> c4, Vector512<float> c5, Vector512<float> c6, Vector512<float> c7)
        {
            // 128-bit quarters: pairs of accumulators to halves, then to quarters, each now holding four partial sums.
            Vector512<float> c01 = Halves(c0, c1), c23 = Halves(c2, c3), c45 = Halves(c4, c5), c67 = Halves(c6, c7);
            var c0123 = Avx512F.Shuffle4x128(c01, c23, 0x88) + Avx512F.Shuffle4x128(c01, c23, 0xDD);
            var c4567 = Avx512F.Shuffle4x128(c45, c67, 0x88) + Avx512F.Shuffle4x128(c45, c67, 0xDD);
            // Within each quarter k: accumulator k and k + 4, two partial sums each, then one.
            var pairs = Avx512F.Shuffle(c0123, c4567, 0x88) + Avx512F.Shuffle(c0123, c4567, 0xDD);
            var sums = pairs + Avx512F.Permute4x32(pairs, 0xB1);
            var ordered = Avx512F.PermuteVar16x32(sums, Vector512.Create(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0)).GetLower();
            if (count == 8) ordered.Store(y);
            else for (int i = 0; i < count; i++) y[i] = ordered.GetElement(i);
        }

        /// <summary>[a's quarters 0+2, 1+3, b's quarters 0+2, 1+3].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> Halves(Vector512<float> a, Vector512<float> b) =>
            Avx512F.Shuffle4x128(a, b, 0x44) + Avx512F.Shuffle4x128(a, b, 0xEE);
    }

    struct Lanes256 : ILanes<Vector256<float>>
    {
        public static int Count => Vector256<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums(float* y, int count, Vector256<float> c0, Vector256<float> c1, Vector256<float> c2, Vector256<float> c3,
            Vector256<float> c4, Vector256<float> c5, Vector256<float> c6, Vector256<float> c7)
        {
            // Halves: [c0, c1] and [c2, c3] four lanes each; within each half accumulator k and k + 2, then one sum.
            var c01 = Avx.Permute2x128(c0, c1, 0x20) + Avx.Permute2x128(c0, c1, 0x31);
            var c23 = Avx.Permute2x128(c2, c3, 0x20) + Avx.Permute2x128(c2, c3, 0x31);
            var pairs = Avx.Shuffle(c01, c23, 0x88) + Avx.Shuffle(c01, c23, 0xDD);
            var sums = pairs + Avx.Permute(pairs, 0xB1);
            var ordered = Avx2.PermuteVar8x32(sums, Vector256.Create(0, 4, 2, 6, 0, 0, 0, 0)).GetLower();
            if (count == 4) ordered.Store(y);
            else for (int i = 0; i < count; i++) y[i] = ordered.GetElement(i);
        }
    }

    struct Lanes128 : ILanes<Vector128<float>>
    {
        public static int Count => Vector128<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums(float* y, int count, Vector128<float> c0, Vector128<float> c1, Vector128<float> c2, Vector128<float> c3,
            Vector128<float> c4, Vector128<float> c5, Vector128<float> c6, Vector128<float> c7)
        {
            Vector128<float> ordered;
            if (Sse.IsSupported)
            {
                var c01 = Sse.Shuffle(c0, c1, 0x88) + Sse.Shuffle(c0, c1, 0xDD);
                var c23 = Sse.Shuffle(c2, c3, 0x88) + Sse.Shuffle(c2, c3, 0xDD);
                ordered = Sse.Shuffle(c01, c23, 0x88) + Sse.Shuffle(c01, c23, 0xDD);
            }
            else ordered = Vector128.Create(Vector128.Sum(c0), Vector128.Sum(c1), Vector128.Sum(c2), Vector128.Sum(c3));
            if (count == 4) ordered.Store(y);
            else for (int i = 0; i < count; i++) y[i] = ordered.GetElement(i);
        }
    }

    struct Lanes1 : ILanes<float>
    {
        public static int Count => 1;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(float* p) => *p;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MultiplyAdd(float a, float b, float c) => a * b + c;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Sums(float* y, int count, float c0, float c1, float c2, float c3, float c4, float c5, float c6, float c7)
        {
            y[0] = c0;
            if (count > 1) y[1] = c1;
            if (count > 2) y[2] = c2;
            if (count > 3) y[3] = c3;
            if (count > 4) y[4] = c4;
            if (count > 5) y[5] = c5;
            if (count > 6) y[6] = c6;
            if (count > 7) y[7] = c7;
        }
    }
}

/// <summary>A count known when a generic kernel is compiled (struct type arguments make one instantiation each).</summary>
internal interface ICount
{
    static abstract int N { get; }
}

internal struct One : ICount { public static int N => 1; }
internal struct Two : ICount { public static int N => 2; }
internal struct Three : ICount { public static int N => 3; }
internal struct Four : ICount { public static int N => 4; }
internal struct Eight : ICount { public static int N => 8; }
