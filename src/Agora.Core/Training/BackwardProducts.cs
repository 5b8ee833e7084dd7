using System.Numerics;
using Agora.Tensors;
using Agora.Tensors.Kernels;
using Agora.Tensors.Quantization;
using Agora.Tensors.Threading;

namespace Agora.Training;

/// <summary>
/// The matrix products of the backward passes, all of one form: C[m, :] += scale · Σₖ A(m, k) · B[k, :], with A read
/// through any two strides (so dy·W and dyᵀ·x need no transposed copy) and B's rows float32 or any type the kernels
/// dequantize (a frozen weight, decoded a panel of rows at a time into per-thread scratch). Tiles of 4 rows × 4
/// vectors keep 16 accumulators in registers, so each B vector loaded serves four rows of C. Rows of C are split
/// over the shared <see cref="WorkerPool"/>; every element of C sums its k terms in one fixed order (panels of k in
/// order, each summed in registers, then added), so results do not depend on the thread count. Allocates nothing
/// once each thread's scratch has grown to the largest panel.
/// </summary>
static unsafe class BackwardProducts
{
    // Below this many multiply-adds, other threads cost more than they save.
    const long ParallelThreshold = 1 << 16;
    const int TileRows = 4;
    // A panel of B (decoded or read in place) of at most this many floats stays in the L2 cache.
    const int PanelFloats = 1 << 16;

    [ThreadStatic] static float[]? panelScratch;

    /// <summary>
    /// C[m, :] += scale · Σₖ a[m·mStride + k·kStride] · B[k, :] for C [rows, n] (row-major) and B [k, n] stored as
    /// <paramref name="k"/> rows of <paramref name="type"/>.
    /// </summary>
    public static void MultiplyAdd(ReadOnlySpan<float> a, int mStride, int kStride, byte* b, GgmlType type,
        Span<float> c, int rows, int k, int n, float scale)
    {
        if (rows == 0 || k == 0 || n == 0) return;
        long lastA = (long)(rows - 1) * mStride + (long)(k - 1) * kStride;
        if (rows < 0 || k < 0 || n < 0 || lastA >= a.Length || c.Length < (long)rows * n || GgmlTypeInfo.ByteSize(type, n) < 0)
            throw new ArgumentException($"product shapes do not fit: {rows}×{k}·{k}×{n} ({type}), A {a.Length}, C {c.Length}");
        var pool = WorkerPool.Shared;
        int groups = (rows + TileRows - 1) / TileRows;
        fixed (float* ap = a) fixed (float* cp = c)
        {
            var job = new Job
            {
                A = ap, MStride = mStride, KStride = kStride, B = b, Type = type, RowBytes = GgmlTypeInfo.ByteSize(type, n),
                C = cp, Rows = rows, K = k, N = n, Scale = scale, Panel = Math.Max(TileRows, PanelFloats / n),
                Chunks = (long)rows * k * n < ParallelThreshold ? 1 : Math.Min(pool.Threads, groups),
            };
            pool.Run(&RunChunk, &job, job.Chunks);
        }
    }

    struct Job
    {
        public float* A, C;
        public byte* B;
        public long RowBytes;
        public GgmlType Type;
        public int MStride, KStride, Rows, K, N, Panel, Chunks;
        public float Scale;
    }

    static void RunChunk(void* state, int chunk)
    {
        ref var job = ref *(Job*)state;
        int groups = (job.Rows + TileRows - 1) / TileRows;
        int first = groups * chunk / job.Chunks * TileRows, end = Math.Min(job.Rows, groups * (chunk + 1) / job.Chunks * TileRows);
        bool decode = job.Type != GgmlType.F32;
        var scratch = decode ? PanelScratch(job.Panel * job.N) : [];
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
                Panel(ref job, panel, k0, count, first, end);
            }
    }

    /// <summary>Adds the terms k0 .. k0 + count − 1 to rows first .. end − 1 of C, column tiles outermost so the panel's tile stays in L1.</summary>
    static void Panel(ref Job job, float* panel, int k0, int count, int first, int end)
    {
        int n = job.N, width = 4 * Vector<float>.Count, column = 0;
        for (; column + width <= n; column += width)
            for (int m = first; m < end; m += TileRows) Tile(ref job, panel, k0, count, m, Math.Min(TileRows, end - m), column);
        for (; column + Vector<float>.Count <= n; column += Vector<float>.Count)
            for (int m = first; m < end; m += TileRows) NarrowTile(ref job, panel, k0, count, m, Math.Min(TileRows, end - m), column);
        for (; column < n; column++)
            for (int m = first; m < end; m++)
            {
                float* a = job.A + (long)m * job.MStride + (long)k0 * job.KStride;
                float sum = 0;
                for (int k = 0; k < count; k++) sum += a[(long)k * job.KStride] * panel[(long)k * n + column];
                job.C[(long)m * n + column] += job.Scale * sum;
            }
    }

    /// <summary>
    /// Rows m .. m + rows − 1 (at most four) × columns column .. column + 4 vectors. Missing rows repeat row m's A
    /// (always readable) and are not stored.
    /// </summary>
    static void Tile(ref Job job, float* panel, int k0, int count, int m, int rows, int column)
    {
        long ks = job.KStride;
        float* a0 = job.A + (long)m * job.MStride + k0 * ks;
        float* a1 = rows > 1 ? a0 + job.MStride : a0, a2 = rows > 2 ? a0 + 2L * job.MStride : a0, a3 = rows > 3 ? a0 + 3L * job.MStride : a0;
        float* b = panel + column;
        int n = job.N, v = Vector<float>.Count;
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
            b += n;
        }
        var scale = new Vector<float>(job.Scale);
        float* c = job.C + (long)m * n + column;
        Store(c, scale, c00, c01, c02, c03);
        if (rows > 1) Store(c + n, scale, c10, c11, c12, c13);
        if (rows > 2) Store(c + 2L * n, scale, c20, c21, c22, c23);
        if (rows > 3) Store(c + 3L * n, scale, c30, c31, c32, c33);
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
    static void NarrowTile(ref Job job, float* panel, int k0, int count, int m, int rows, int column)
    {
        long ks = job.KStride;
        float* a0 = job.A + (long)m * job.MStride + k0 * ks;
        float* a1 = rows > 1 ? a0 + job.MStride : a0, a2 = rows > 2 ? a0 + 2L * job.MStride : a0, a3 = rows > 3 ? a0 + 3L * job.MStride : a0;
        float* b = panel + column;
        int n = job.N;
        Vector<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int k = 0; k < count; k++)
        {
            var bv = Vector.Load(b);
            c0 = Vector.FusedMultiplyAdd(new Vector<float>(*a0), bv, c0);
            c1 = Vector.FusedMultiplyAdd(new Vector<float>(*a1), bv, c1);
            c2 = Vector.FusedMultiplyAdd(new Vector<float>(*a2), bv, c2);
            c3 = Vector.FusedMultiplyAdd(new Vector<float>(*a3), bv, c3);
            a0 += ks; a1 += ks; a2 += ks; a3 += ks;
            b += n;
        }
        var scale = new Vector<float>(job.Scale);
        float* c = job.C + (long)m * n + column;
        Vector.Store(Vector.FusedMultiplyAdd(c0, scale, Vector.Load(c)), c);
        if (rows > 1) Vector.Store(Vector.FusedMultiplyAdd(c1, scale, Vector.Load(c + n)), c + n);
        if (rows > 2) Vector.Store(Vector.FusedMultiplyAdd(c2, scale, Vector.Load(c + 2L * n)), c + 2L * n);
        if (rows > 3) Vector.Store(Vector.FusedMultiplyAdd(c3, scale, Vector.Load(c + 3L * n)), c + 3L * n);
    }

    static float[] PanelScratch(int length)
    {
        var scratch = panelScratch;
        if (scratch == null || scratch.Length < length) panelScratch = scratch = GC.AllocateUninitializedArray<float>(length, pinned: true);
        return scratch;
    }
}
