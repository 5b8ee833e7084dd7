using System.Numerics;
using Agora.Tensors;
using Agora.Tensors.Kernels;
using Agora.Tensors.Quantization;
using Agora.Tensors.Threading;

namespace Agora.Training;

/// <summary>
/// The matrix products of training's passes, in two forms that need no transposed copies: the forward's
/// Y += scale · X·Wᵀ (<see cref="MultiplyTransposedAdd(ReadOnlySpan{float}, byte*, GgmlType, Span{float}, int, int, int, float, WorkerPool?)"/>,
/// tiles of 4 rows of X × 4 rows of W dotted along the shared dimension) and the backward's
/// C[m, :] += scale · Σₖ A(m, k) · B[k, :] (<see cref="MultiplyAdd(ReadOnlySpan{float}, int, int, byte*, GgmlType, Span{float}, int, int, int, float, WorkerPool?)"/>,
/// A read through any two strides, so dy·W and dyᵀ·x alike; tiles of 4 rows × 4 vectors). W and B may be float32 or
/// any type the kernels dequantize (a frozen weight, decoded a panel of rows at a time into per-thread scratch). Each
/// tile keeps 16 accumulators in registers, so every vector loaded serves four rows. Work is split over a
/// <see cref="WorkerPool"/> in groups of four rows; every output element sums its terms in one fixed order, so
/// results do not depend on the thread count. Allocates nothing once each thread's scratch has grown to the largest
/// panel. The strided overloads (float32 rows anywhere in memory, e.g. one head of a [tokens, heads × headDim]
/// buffer) serve attention.
/// </summary>
static unsafe class TrainingProducts
{
    // Below this many multiply-adds, other threads cost more than they save.
    const long ParallelThreshold = 1 << 16;
    const int TileRows = 4;
    // A panel of B (decoded or read in place) of at most this many floats stays in the L2 cache.
    const int PanelFloats = 1 << 16;
    // A forward panel of decoded weight rows of about this many floats stays in the L1 cache with four rows of X.
    const int ForwardPanelFloats = 6144;

    /// <summary>A pool without workers: products called from inside another operation's chunk run on its thread.</summary>
    internal static readonly WorkerPool Serial = new(1);

    [ThreadStatic] static float[]? panelScratch;

    /// <summary>
    /// y[t, o] += scale · Σᵢ x[t, i]·W[o, i] for x [tokens, inDim], y [tokens, outDim] and W [outDim, inDim] stored as
    /// rows of <paramref name="type"/>; outputs are split over the threads, so each thread decodes only its own rows.
    /// </summary>
    /// <param name="pool">The pool to run on; the shared one unless a test picks another.</param>
    public static void MultiplyTransposedAdd(ReadOnlySpan<float> x, byte* w, GgmlType type, Span<float> y, int tokens, int inDim, int outDim, float scale,
        WorkerPool? pool = null)
    {
        if (tokens == 0 || outDim == 0) return;
        if (tokens < 0 || inDim <= 0 || outDim < 0 || x.Length < (long)tokens * inDim || y.Length < (long)tokens * outDim || GgmlTypeInfo.ByteSize(type, inDim) < 0)
            throw new ArgumentException($"product shapes do not fit: {tokens}×{inDim}·({outDim}×{inDim}, {type})ᵀ, x {x.Length}, y {y.Length}");
        fixed (float* xp = x) fixed (float* yp = y)
            MultiplyTransposedAdd(xp, inDim, w, type, GgmlTypeInfo.ByteSize(type, inDim), yp, outDim, tokens, inDim, outDim, scale, pool ?? WorkerPool.Shared);
    }

    /// <summary>The same over float32 rows with any strides (in elements), unchecked.</summary>
    internal static void MultiplyTransposedAdd(float* x, int xStride, float* w, int wStride, float* y, int yStride, int tokens, int inDim, int outDim,
        float scale, WorkerPool pool) =>
        MultiplyTransposedAdd(x, xStride, (byte*)w, GgmlType.F32, (long)wStride * sizeof(float), y, yStride, tokens, inDim, outDim, scale, pool);

    static void MultiplyTransposedAdd(float* x, int xStride, byte* w, GgmlType type, long wRowBytes, float* y, int yStride, int tokens, int inDim,
        int outDim, float scale, WorkerPool pool)
    {
        if (tokens == 0 || outDim == 0) return;
        var job = new ForwardJob
        {
            X = x, XStride = xStride, W = w, Type = type, RowBytes = wRowBytes, Y = y, YStride = yStride, Tokens = tokens, In = inDim, Out = outDim,
            Scale = scale, Panel = Math.Clamp(ForwardPanelFloats / inDim / TileRows * TileRows, TileRows, 4 * TileRows),
            Chunks = (long)tokens * inDim * outDim < ParallelThreshold ? 1 : Math.Min(pool.Threads, (outDim + TileRows - 1) / TileRows),
        };
        pool.Run(&RunForwardChunk, &job, job.Chunks);
    }

    struct ForwardJob
    {
        public float* X, Y;
        public byte* W;
        public long RowBytes;
        public GgmlType Type;
        public int XStride, YStride, Tokens, In, Out, Panel, Chunks;
        public float Scale;
    }

    static void RunForwardChunk(void* state, int chunk)
    {
        ref var job = ref *(ForwardJob*)state;
        int groups = (job.Out + TileRows - 1) / TileRows;
        int first = groups * chunk / job.Chunks * TileRows, end = Math.Min(job.Out, groups * (chunk + 1) / job.Chunks * TileRows);
        bool decode = job.Type != GgmlType.F32;
        var scratch = decode ? PanelScratch(job.Panel * job.In) : [];
        int wStride = decode ? job.In : (int)(job.RowBytes / sizeof(float));
        fixed (float* decoded = scratch)
            for (int o0 = first; o0 < end; o0 += job.Panel)
            {
                int count = Math.Min(job.Panel, end - o0);
                float* panel = (float*)(job.W + o0 * job.RowBytes);
                if (decode)
                {
                    for (int r = 0; r < count; r++)
                        Quants.DequantizeRow(job.Type, job.W + (o0 + r) * job.RowBytes, decoded + (long)r * job.In, job.In, Simd.Best);
                    panel = decoded;
                }
                for (int t = 0; t < job.Tokens; t += TileRows)
                    for (int o = 0; o < count; o += TileRows)
                        DotTile(ref job, t, Math.Min(TileRows, job.Tokens - t), panel + (long)o * wStride, wStride, o0 + o, Math.Min(TileRows, count - o));
            }
    }

    /// <summary>
    /// The 16 dot products of rows t .. t + 3 of X with the W rows at <paramref name="w"/> (outputs o .. o + 3), added
    /// to Y. Missing rows or outputs repeat the first (always readable) and are not stored.
    /// </summary>
    static void DotTile(ref ForwardJob job, int t, int tokens, float* w, int wStride, int o, int outputs)
    {
        int n = job.In, v = Vector<float>.Count;
        long xs = job.XStride;
        float* x0 = job.X + t * xs;
        float* x1 = tokens > 1 ? x0 + xs : x0, x2 = tokens > 2 ? x0 + 2 * xs : x0, x3 = tokens > 3 ? x0 + 3 * xs : x0;
        float* w0 = w, w1 = outputs > 1 ? w + wStride : w, w2 = outputs > 2 ? w + 2L * wStride : w, w3 = outputs > 3 ? w + 3L * wStride : w;
        Vector<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
        Vector<float> s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
        int i = 0;
        for (; i <= n - v; i += v)
        {
            var b0 = Vector.Load(w0 + i);
            var b1 = Vector.Load(w1 + i);
            var b2 = Vector.Load(w2 + i);
            var b3 = Vector.Load(w3 + i);
            var a = Vector.Load(x0 + i);
            s00 = Vector.FusedMultiplyAdd(a, b0, s00); s01 = Vector.FusedMultiplyAdd(a, b1, s01);
            s02 = Vector.FusedMultiplyAdd(a, b2, s02); s03 = Vector.FusedMultiplyAdd(a, b3, s03);
            a = Vector.Load(x1 + i);
            s10 = Vector.FusedMultiplyAdd(a, b0, s10); s11 = Vector.FusedMultiplyAdd(a, b1, s11);
            s12 = Vector.FusedMultiplyAdd(a, b2, s12); s13 = Vector.FusedMultiplyAdd(a, b3, s13);
            a = Vector.Load(x2 + i);
            s20 = Vector.FusedMultiplyAdd(a, b0, s20); s21 = Vector.FusedMultiplyAdd(a, b1, s21);
            s22 = Vector.FusedMultiplyAdd(a, b2, s22); s23 = Vector.FusedMultiplyAdd(a, b3, s23);
            a = Vector.Load(x3 + i);
            s30 = Vector.FusedMultiplyAdd(a, b0, s30); s31 = Vector.FusedMultiplyAdd(a, b1, s31);
            s32 = Vector.FusedMultiplyAdd(a, b2, s32); s33 = Vector.FusedMultiplyAdd(a, b3, s33);
        }
        long ys = job.YStride;
        float* y = job.Y + t * ys + o;
        StoreRow(ref job, y, x0, w0, w1, w2, w3, i, outputs, s00, s01, s02, s03);
        if (tokens > 1) StoreRow(ref job, y + ys, x1, w0, w1, w2, w3, i, outputs, s10, s11, s12, s13);
        if (tokens > 2) StoreRow(ref job, y + 2 * ys, x2, w0, w1, w2, w3, i, outputs, s20, s21, s22, s23);
        if (tokens > 3) StoreRow(ref job, y + 3 * ys, x3, w0, w1, w2, w3, i, outputs, s30, s31, s32, s33);
    }

    /// <summary>Adds one row's (up to) four sums to Y, each finished with the elements past the last whole vector.</summary>
    static void StoreRow(ref ForwardJob job, float* y, float* x, float* w0, float* w1, float* w2, float* w3, int tail, int outputs,
        Vector<float> s0, Vector<float> s1, Vector<float> s2, Vector<float> s3)
    {
        y[0] += job.Scale * (Vector.Sum(s0) + Tail(x, w0, tail, job.In));
        if (outputs > 1) y[1] += job.Scale * (Vector.Sum(s1) + Tail(x, w1, tail, job.In));
        if (outputs > 2) y[2] += job.Scale * (Vector.Sum(s2) + Tail(x, w2, tail, job.In));
        if (outputs > 3) y[3] += job.Scale * (Vector.Sum(s3) + Tail(x, w3, tail, job.In));
    }

    static float Tail(float* x, float* w, int from, int n)
    {
        float sum = 0;
        for (int i = from; i < n; i++) sum += x[i] * w[i];
        return sum;
    }

    /// <summary>
    /// C[m, :] += scale · Σₖ a[m·mStride + k·kStride] · B[k, :] for C [rows, n] (row-major) and B [k, n] stored as
    /// <paramref name="k"/> rows of <paramref name="type"/>.
    /// </summary>
    /// <param name="pool">The pool to run on; the shared one unless a test picks another.</param>
    public static void MultiplyAdd(ReadOnlySpan<float> a, int mStride, int kStride, byte* b, GgmlType type,
        Span<float> c, int rows, int k, int n, float scale, WorkerPool? pool = null)
    {
        if (rows == 0 || k == 0 || n == 0) return;
        long lastA = (long)(rows - 1) * mStride + (long)(k - 1) * kStride;
        if (rows < 0 || k < 0 || n < 0 || lastA >= a.Length || c.Length < (long)rows * n || GgmlTypeInfo.ByteSize(type, n) < 0)
            throw new ArgumentException($"product shapes do not fit: {rows}×{k}·{k}×{n} ({type}), A {a.Length}, C {c.Length}");
        fixed (float* ap = a) fixed (float* cp = c)
            MultiplyAdd(ap, mStride, kStride, b, type, GgmlTypeInfo.ByteSize(type, n), cp, n, rows, k, n, scale, pool ?? WorkerPool.Shared);
    }

    /// <summary>The same over float32 rows of B and C with any strides (in elements), unchecked.</summary>
    internal static void MultiplyAdd(float* a, int mStride, int kStride, float* b, int bStride, float* c, int cStride, int rows, int k, int n,
        float scale, WorkerPool pool) =>
        MultiplyAdd(a, mStride, kStride, (byte*)b, GgmlType.F32, (long)bStride * sizeof(float), c, cStride, rows, k, n, scale, pool);

    static void MultiplyAdd(float* a, int mStride, int kStride, byte* b, GgmlType type, long bRowBytes, float* c, int cStride, int rows, int k, int n,
        float scale, WorkerPool pool)
    {
        if (rows == 0 || k == 0 || n == 0) return;
        var job = new Job
        {
            A = a, MStride = mStride, KStride = kStride, B = b, Type = type, RowBytes = bRowBytes, C = c, CStride = cStride,
            Rows = rows, K = k, N = n, Scale = scale, Panel = Math.Max(TileRows, PanelFloats / n),
            Chunks = (long)rows * k * n < ParallelThreshold ? 1 : Math.Min(pool.Threads, (rows + TileRows - 1) / TileRows),
        };
        pool.Run(&RunChunk, &job, job.Chunks);
    }

    struct Job
    {
        public float* A, C;
        public byte* B;
        public long RowBytes;
        public GgmlType Type;
        public int MStride, KStride, CStride, Rows, K, N, Panel, Chunks;
        public float Scale;
    }

    static void RunChunk(void* state, int chunk)
    {
        ref var job = ref *(Job*)state;
        int groups = (job.Rows + TileRows - 1) / TileRows;
        int first = groups * chunk / job.Chunks * TileRows, end = Math.Min(job.Rows, groups * (chunk + 1) / job.Chunks * TileRows);
        bool decode = job.Type != GgmlType.F32;
        var scratch = decode ? PanelScratch(job.Panel * job.N) : [];
        int bStride = decode ? job.N : (int)(job.RowBytes / sizeof(float));
        fixed (float* decoded = scratch)
            for (int k0 = 0; k0 < job.K; k0 += job.Panel)
            {
                int count = Math.Min(job.Panel, job.K - k0);
                float* panel = (float*)(job.B + k0 * job.RowBytes);
                if (decode)
                {
                    for (int r = 0; r < count; r++)
                        Quants.DequantizeRow(job.Type, job.B + (k0 + r) * job.RowBytes, decoded + (long)r * job.N, job.N, Simd.Best);
                    panel = decoded;
                }
                Panel(ref job, panel, bStride, k0, count, first, end);
            }
    }

    /// <summary>Adds the terms k0 .. k0 + count − 1 to rows first .. end − 1 of C, column tiles outermost so the panel's tile stays in L1.</summary>
    static void Panel(ref Job job, float* panel, int bStride, int k0, int count, int first, int end)
    {
        int n = job.N, width = 4 * Vector<float>.Count, column = 0;
        for (; column + width <= n; column += width)
            for (int m = first; m < end; m += TileRows) Tile(ref job, panel, bStride, k0, count, m, Math.Min(TileRows, end - m), column);
        for (; column + Vector<float>.Count <= n; column += Vector<float>.Count)
            for (int m = first; m < end; m += TileRows) NarrowTile(ref job, panel, bStride, k0, count, m, Math.Min(TileRows, end - m), column);
        for (; column < n; column++)
            for (int m = first; m < end; m++)
            {
                float* a = job.A + (long)m * job.MStride + (long)k0 * job.KStride;
                float sum = 0;
                for (int k = 0; k < count; k++) sum += a[(long)k * job.KStride] * panel[(long)k * bStride + column];
                job.C[(long)m * job.CStride + column] += job.Scale * sum;
            }
    }

    /// <summary>
    /// Rows m .. m + rows − 1 (at most four) × columns column .. column + 4 vectors. Missing rows repeat row m's A
    /// (always readable) and are not stored.
    /// </summary>
    static void Tile(ref Job job, float* panel, int bStride, int k0, int count, int m, int rows, int column)
    {
        long ks = job.KStride;
        float* a0 = job.A + (long)m * job.MStride + k0 * ks;
        float* a1 = rows > 1 ? a0 + job.MStride : a0, a2 = rows > 2 ? a0 + 2L * job.MStride : a0, a3 = rows > 3 ? a0 + 3L * job.MStride : a0;
        float* b = panel + column;
        int v = Vector<float>.Count;
        Vector<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector<float> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        for (int k = 0; k < count; k++)
        {
            var b0 = Vector.Load(b);
            var b1 = Vector.Load(b + v);
            var b2 = Vector.Load(b + 2 * v);
            var b3 = Vector.Load(b + 3 * v);
            var x = new Vector<float>(*a0);
            c00 = Vector.FusedMultiplyAdd(x, b0, c00); c01 = Vector.FusedMultiplyAdd(x, b1, c01);
            c02 = Vector.FusedMultiplyAdd(x, b2, c02); c03 = Vector.FusedMultiplyAdd(x, b3, c03);
            x = new Vector<float>(*a1);
            c10 = Vector.FusedMultiplyAdd(x, b0, c10); c11 = Vector.FusedMultiplyAdd(x, b1, c11);
            c12 = Vector.FusedMultiplyAdd(x, b2, c12); c13 = Vector.FusedMultiplyAdd(x, b3, c13);
            x = new Vector<float>(*a2);
            c20 = Vector.FusedMultiplyAdd(x, b0, c20); c21 = Vector.FusedMultiplyAdd(x, b1, c21);
            c22 = Vector.FusedMultiplyAdd(x, b2, c22); c23 = Vector.FusedMultiplyAdd(x, b3, c23);
            x = new Vector<float>(*a3);
            c30 = Vector.FusedMultiplyAdd(x, b0, c30); c31 = Vector.FusedMultiplyAdd(x, b1, c31);
            c32 = Vector.FusedMultiplyAdd(x, b2, c32); c33 = Vector.FusedMultiplyAdd(x, b3, c33);
            a0 += ks; a1 += ks; a2 += ks; a3 += ks;
            b += bStride;
        }
        var scale = new Vector<float>(job.Scale);
        long cs = job.CStride;
        float* c = job.C + m * cs + column;
        Store(c, scale, c00, c01, c02, c03);
        if (rows > 1) Store(c + cs, scale, c10, c11, c12, c13);
        if (rows > 2) Store(c + 2 * cs, scale, c20, c21, c22, c23);
        if (rows > 3) Store(c + 3 * cs, scale, c30, c31, c32, c33);
    }

    static void Store(float* c, Vector<float> scale, Vector<float> s0, Vector<float> s1, Vector<float> s2, Vector<float> s3)
    {
        int v = Vector<float>.Count;
        Vector.Store(Vector.FusedMultiplyAdd(s0, scale, Vector.Load(c)), c);
        Vector.Store(Vector.FusedMultiplyAdd(s1, scale, Vector.Load(c + v)), c + v);
        Vector.Store(Vector.FusedMultiplyAdd(s2, scale, Vector.Load(c + 2 * v)), c + 2 * v);
        Vector.Store(Vector.FusedMultiplyAdd(s3, scale, Vector.Load(c + 3 * v)), c + 3 * v);
    }

    /// <summary>As <see cref="Tile"/>, one vector wide (the columns left over from whole tiles).</summary>
    static void NarrowTile(ref Job job, float* panel, int bStride, int k0, int count, int m, int rows, int column)
    {
        long ks = job.KStride;
        float* a0 = job.A + (long)m * job.MStride + k0 * ks;
        float* a1 = rows > 1 ? a0 + job.MStride : a0, a2 = rows > 2 ? a0 + 2L * job.MStride : a0, a3 = rows > 3 ? a0 + 3L * job.MStride : a0;
        float* b = panel + column;
        Vector<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int k = 0; k < count; k++)
        {
            var bv = Vector.Load(b);
            c0 = Vector.FusedMultiplyAdd(new Vector<float>(*a0), bv, c0);
            c1 = Vector.FusedMultiplyAdd(new Vector<float>(*a1), bv, c1);
            c2 = Vector.FusedMultiplyAdd(new Vector<float>(*a2), bv, c2);
            c3 = Vector.FusedMultiplyAdd(new Vector<float>(*a3), bv, c3);
            a0 += ks; a1 += ks; a2 += ks; a3 += ks;
            b += bStride;
        }
        var scale = new Vector<float>(job.Scale);
        long cs = job.CStride;
        float* c = job.C + m * cs + column;
        Vector.Store(Vector.FusedMultiplyAdd(c0, scale, Vector.Load(c)), c);
        if (rows > 1) Vector.Store(Vector.FusedMultiplyAdd(c1, scale, Vector.Load(c + cs)), c + cs);
        if (rows > 2) Vector.Store(Vector.FusedMultiplyAdd(c2, scale, Vector.Load(c + 2 * cs)), c + 2 * cs);
        if (rows > 3) Vector.Store(Vector.FusedMultiplyAdd(c3, scale, Vector.Load(c + 3 * cs)), c + 3 * cs);
    }

    static float[] PanelScratch(int length)
    {
        var scratch = panelScratch;
        if (scratch == null || scratch.Length < length) panelScratch = scratch = GC.AllocateUninitializedArray<float>(length, pinned: true);
        return scratch;
    }
}
