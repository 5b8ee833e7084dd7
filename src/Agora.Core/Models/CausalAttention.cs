using System.Runtime.Intrinsics;
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
                for (int k = first; k < visible; k++)
                    weights[k - first] = VectorDot.Dot(qp, job.Keys + (long)k * kvRow + kvOffset, headDim, Simd.Best) * scale;
                if (job.Slopes != null)
                    for (int k = first; k < visible; k++) weights[k - first] += job.Slopes[h] * k;
                Activations.Softmax(weights);
                float* o = job.Output + (long)t * queryRow + h * headDim;
                new Span<float>(o, headDim).Clear();
                for (int k = first; k < visible; k++)
                    AddScaled(o, job.Values + (long)k * kvRow + kvOffset, weights[k - first], headDim);
            }
        }
    }
}
