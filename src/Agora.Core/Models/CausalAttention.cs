using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Agora.Tensors.Kernels;
using Agora.Tensors.Threading;

namespace Agora.Models;

/// <summary>
/// Scaled dot-product attention of new queries over a sequence's cached keys and values, with the causal mask
/// (query at position p sees keys 0..p, or only the last <c>window</c> of them), grouped-query sharing (each KV
/// head serves HeadCount / KvHeadCount consecutive query heads) and, for ALiBi models, the bias slope·k on key position k.
/// Heads are split into contiguous ranges run on the shared <see cref="WorkerPool"/>; each head's output is one
/// thread's fixed sequence of operations, so results do not depend on the thread count.
/// </summary>
static unsafe class CausalAttention
{
    // Below this many multiply-adds (scores plus weighted values), other threads cost more than they save.
    const long ParallelThreshold = 1 << 15;

    // Each thread's softmax row; grows (by doubling) only when a longer context first appears.
    [ThreadStatic] static float[]? threadScores;

    /// <param name="query">[tokens, heads × headDim]; token t sits at position start + t.</param>
    /// <param name="keys">[start + tokens, kvHeads × headDim] (the cache, new tokens included); likewise values.</param>
    /// <param name="window">Sliding window: a query sees itself and the window − 1 keys before it; 0 for none.</param>
    /// <param name="alibiSlopes">One slope per head, or empty for none.</param>
    /// <param name="scores">At least start + tokens values of scratch (used when the heads run on one thread).</param>
    /// <param name="output">[tokens, heads × headDim].</param>
    public static void Compute(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int tokens, int start, int heads, int kvHeads, int headDim, int window, ReadOnlySpan<float> alibiSlopes,
        Span<float> scores, Span<float> output) =>
        Compute(query, keys, values, tokens, start, heads, kvHeads, headDim, window, alibiSlopes, scores, output, WorkerPool.Shared);

    internal static void Compute(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int tokens, int start, int heads, int kvHeads, int headDim, int window, ReadOnlySpan<float> alibiSlopes,
        Span<float> scores, Span<float> output, WorkerPool pool)
    {
        // The chunks read through raw pointers, so every extent is checked here once.
        long queryLength = (long)tokens * heads * headDim, kvLength = (long)(start + tokens) * kvHeads * headDim;
        if (tokens < 0 || start < 0 || kvHeads <= 0 || heads % kvHeads != 0 || query.Length < queryLength || output.Length < queryLength
            || keys.Length < kvLength || values.Length < kvLength || scores.Length < start + tokens
            || (!alibiSlopes.IsEmpty && alibiSlopes.Length < heads))
            throw new ArgumentException($"attention shapes do not fit: tokens {tokens}, start {start}, heads {heads}/{kvHeads}, head size {headDim}");
        long work = 2L * tokens * heads * headDim * (window > 0 ? Math.Min(window, start + tokens) : start + tokens);
        // A head per chunk, claimed dynamically: with few heads per thread an even split leaves one thread idle.
        int chunks = work < ParallelThreshold ? 1 : heads;
        fixed (float* q = query) fixed (float* k = keys) fixed (float* v = values) fixed (float* slopes = alibiSlopes)
        fixed (float* s = scores) fixed (float* o = output)
        {
            var job = new Job
            {
                Query = q, Keys = k, Values = v, Slopes = alibiSlopes.IsEmpty ? null : slopes, Scores = chunks == 1 ? s : null,
                Output = o, Tokens = tokens, Start = start, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Window = window, Chunks = chunks,
            };
            pool.Run(&RunChunk, &job, chunks);
        }
    }

    struct Job
    {
        public float* Query, Keys, Values, Slopes, Scores, Output;
        public int Tokens, Start, Heads, KvHeads, HeadDim, Window, Chunks;
    }

    static void RunChunk(void* state, int chunk)
    {
        var job = (Job*)state;
        int first = job->Heads * chunk / job->Chunks, end = job->Heads * (chunk + 1) / job->Chunks;
        if (job->Scores != null) { Heads(ref *job, job->Scores, first, end); return; }
        int length = job->Start + job->Tokens;
        var scratch = threadScores;
        if (scratch == null || scratch.Length < length) threadScores = scratch = new float[Math.Max(length, 2 * (scratch?.Length ?? 256))];
        fixed (float* s = scratch) Heads(ref *job, s, first, end);
    }

    /// <summary>dst += a·src over n floats (a head's worth: TensorPrimitives' per-call cost outweighs 64 elements).</summary>
    static void AddScaled(float* dst, float* src, float a, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (var va = Vector512.Create(a); i <= n - 16; i += 16)
                Vector512.FusedMultiplyAdd(Vector512.Load(src + i), va, Vector512.Load(dst + i)).Store(dst + i);
        if (Vector256.IsHardwareAccelerated)
            for (var va = Vector256.Create(a); i <= n - 8; i += 8)
                Vector256.FusedMultiplyAdd(Vector256.Load(src + i), va, Vector256.Load(dst + i)).Store(dst + i);
        for (; i < n; i++) dst[i] = MathF.FusedMultiplyAdd(src[i], a, dst[i]);
    }

    // The AVX-512 kernels below take head sizes in whole vectors; others go key by key.
    static bool Blocked(int headDim) => Avx512F.IsSupported && headDim % 16 == 0;

    /// <summary>
    /// weights[j] = scale · q·key(first + j) for the visible keys, four keys at a time: four independent chains of
    /// multiply-adds, then one transposing reduction for the four sums instead of a horizontal sum per key.
    /// </summary>
    static void Scores(float* q, float* keys, long kvRow, int first, int visible, int headDim, float scale, float* weights)
    {
        int k = first;
        if (Blocked(headDim))
            for (; k + 4 <= visible; k += 4)
            {
                float* k0 = keys + k * kvRow, k1 = k0 + kvRow, k2 = k1 + kvRow, k3 = k2 + kvRow;
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int d = 0; d < headDim; d += 16)
                {
                    var qv = Vector512.Load(q + d);
                    s0 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(k0 + d), s0);
                    s1 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(k1 + d), s1);
                    s2 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(k2 + d), s2);
                    s3 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(k3 + d), s3);
                }
                var sums = Sse3.HorizontalAdd(Sse3.HorizontalAdd(Fold(s0), Fold(s1)), Sse3.HorizontalAdd(Fold(s2), Fold(s3)));
                (sums * scale).Store(weights + k - first);
            }
        for (; k < visible; k++)
            weights[k - first] = VectorDot.Dot(q, keys + k * kvRow, headDim, Simd.Best) * scale;
    }

    static Vector128<float> Fold(Vector512<float> v)
    {
        var half = v.GetLower() + v.GetUpper();
        return half.GetLower() + half.GetUpper();
    }

    /// <summary>
    /// o = Σ weights[j]·value(first + j): 64 output values at a time held in registers across all keys (even and odd
    /// keys in separate accumulators, so the chains of multiply-adds overlap), stored once.
    /// </summary>
    static void WeightedValues(float* weights, float* values, long kvRow, int first, int visible, int headDim, float* o)
    {
        if (!Blocked(headDim))
        {
            new Span<float>(o, headDim).Clear();
            for (int k = first; k < visible; k++) AddScaled(o, values + k * kvRow, weights[k - first], headDim);
            return;
        }
        int d = 0;
        for (; d + 64 <= headDim; d += 64)
        {
            Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default, u0 = default, u1 = default, u2 = default, u3 = default;
            int k = first;
            for (; k + 2 <= visible; k += 2)
            {
                float* v = values + k * kvRow + d, w = v + kvRow;
                var a = Vector512.Create(weights[k - first]);
                var b = Vector512.Create(weights[k + 1 - first]);
                e0 = Vector512.FusedMultiplyAdd(Vector512.Load(v), a, e0);
                e1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 16), a, e1);
                e2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 32), a, e2);
                e3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 48), a, e3);
                u0 = Vector512.FusedMultiplyAdd(Vector512.Load(w), b, u0);
                u1 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 16), b, u1);
                u2 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 32), b, u2);
                u3 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 48), b, u3);
            }
            if (k < visible)
            {
                float* v = values + k * kvRow + d;
                var a = Vector512.Create(weights[k - first]);
                e0 = Vector512.FusedMultiplyAdd(Vector512.Load(v), a, e0);
                e1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 16), a, e1);
                e2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 32), a, e2);
                e3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 48), a, e3);
            }
            (e0 + u0).Store(o + d);
            (e1 + u1).Store(o + d + 16);
            (e2 + u2).Store(o + d + 32);
            (e3 + u3).Store(o + d + 48);
        }
        for (; d < headDim; d += 16)
        {
            var e = Vector512<float>.Zero;
            for (int k = first; k < visible; k++)
                e = Vector512.FusedMultiplyAdd(Vector512.Load(values + k * kvRow + d), Vector512.Create(weights[k - first]), e);
            e.Store(o + d);
        }
    }

    static void Heads(ref Job job, float* scores, int firstHead, int endHead)
    {
        int headDim = job.HeadDim, queryRow = job.Heads * headDim, kvRow = job.KvHeads * headDim, group = job.Heads / job.KvHeads;
        float scale = 1f / MathF.Sqrt(headDim);
        for (int t = 0; t < job.Tokens; t++)
        {
            int visible = job.Start + t + 1;
            int first = job.Window > 0 ? Math.Max(0, visible - job.Window) : 0;
            var weights = new Span<float>(scores + first, visible - first);
            for (int h = firstHead; h < endHead; h++)
            {
                int kvOffset = h / group * headDim;
                float* qp = job.Query + (long)t * queryRow + h * headDim;
                Scores(qp, job.Keys + kvOffset, kvRow, first, visible, headDim, scale, scores + first);
                if (job.Slopes != null)
                    for (int k = first; k < visible; k++) weights[k - first] += job.Slopes[h] * k;
                Activations.Softmax(weights);
                WeightedValues(scores + first, job.Values + kvOffset, kvRow, first, visible, headDim, job.Output + (long)t * queryRow + h * headDim);
            }
        }
    }
}
