using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Agora.Tensors.Kernels;

/// <summary>
/// Register-tiled float products, in the manner of llamafile's tinyBLAS: y[t, o] = w[o]·x[t] for a panel of weight
/// rows against a run of activation rows, both stored along the shared dimension n. A tile of R rows × C tokens
/// keeps R·C vector accumulators, so every weight vector loaded serves C tokens and every activation vector R rows,
/// and lanes are summed once per output, at the tile's end. Each output takes the same operations whatever tile it
/// falls in (lane-wise multiply-adds over k, one fixed reduction, a scalar tail), so results do not depend on how
/// rows and tokens are split among threads. Tiles fit the register file: 8×3 of 32 AVX-512 registers, 4×3 of 16.
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
        float* y0 = y, y1 = y + yStride, y2 = y1 + yStride;
        y0[0] = TL.Sum(c00); if (C > 1) y1[0] = TL.Sum(c01); if (C > 2) y2[0] = TL.Sum(c02);
        if (R > 1) { y0[1] = TL.Sum(c10); if (C > 1) y1[1] = TL.Sum(c11); if (C > 2) y2[1] = TL.Sum(c12); }
        if (R > 2) { y0[2] = TL.Sum(c20); if (C > 1) y1[2] = TL.Sum(c21); if (C > 2) y2[2] = TL.Sum(c22); }
        if (R > 3) { y0[3] = TL.Sum(c30); if (C > 1) y1[3] = TL.Sum(c31); if (C > 2) y2[3] = TL.Sum(c32); }
        if (R > 4) { y0[4] = TL.Sum(c40); if (C > 1) y1[4] = TL.Sum(c41); if (C > 2) y2[4] = TL.Sum(c42); }
        if (R > 5) { y0[5] = TL.Sum(c50); if (C > 1) y1[5] = TL.Sum(c51); if (C > 2) y2[5] = TL.Sum(c52); }
        if (R > 6) { y0[6] = TL.Sum(c60); if (C > 1) y1[6] = TL.Sum(c61); if (C > 2) y2[6] = TL.Sum(c62); }
        if (R > 7) { y0[7] = TL.Sum(c70); if (C > 1) y1[7] = TL.Sum(c71); if (C > 2) y2[7] = TL.Sum(c72); }
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
        static abstract float Sum(TV v);
    }

    struct Lanes512 : ILanes<Vector512<float>>
    {
        public static int Count => Vector512<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    }

    struct Lanes256 : ILanes<Vector256<float>>
    {
        public static int Count => Vector256<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    }

    struct Lanes128 : ILanes<Vector128<float>>
    {
        public static int Count => Vector128<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector128<float> v) => Vector128.Sum(v);
    }

    struct Lanes1 : ILanes<float>
    {
        public static int Count => 1;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(float* p) => *p;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MultiplyAdd(float a, float b, float c) => a * b + c;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(float v) => v;
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
