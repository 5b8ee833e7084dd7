using Agora.Tensors.Kernels;
using Agora.Tensors.Threading;

namespace Agora.Training;

/// <summary>
/// Causal grouped-query attention over a batch of sequences that keeps its attention weights for the backward
/// pass, and that backward pass. Same semantics as inference's CausalAttention (scale 1/√headDim, optional
/// sliding window, ALiBi bias slope·p on key position p); each sequence attends only within itself, and in a packed
/// batch (<see cref="TrainingBatch.Positions"/>) each example only within itself: the query at t sees keys from its
/// example's start, t − position[t], on. ALiBi takes positions within the example, so a packed example scores
/// exactly as it would alone. The products (scores Q·Kᵀ, weights·V and their gradients) run on
/// <see cref="TrainingProducts"/>' tiles, a block of queries at a time against only the keys that block can see.
/// Heads (and, for dKey and dValue, blocks of keys) are chunks of the shared <see cref="WorkerPool"/>; each output
/// element has one writer in a fixed order, so results do not depend on the thread count.
/// </summary>
static unsafe class AttentionTraining
{
    // Queries (or, for dKey and dValue, keys) per product: blocks narrow the keys computed to those the block sees.
    const int Block = 32;

    /// <summary>The shapes and buffers of one call, on the caller's stack while the pool runs its chunks.</summary>
    struct Job
    {
        public float* Query, Key, Value, Probabilities, DScores, DOutput, Output, DQuery, DKey, DValue, Slopes;
        public int* Positions;
        public int Length, Heads, KvHeads, HeadDim, Window;
        public float Scale;

        public readonly int QueryRow => Heads * HeadDim;
        public readonly int KvRow => KvHeads * HeadDim;

        /// <summary>Where the example of token t of sequence s starts, before the window.</summary>
        public readonly int ExampleStart(int s, int t) => Positions == null ? 0 : t - Positions[s * Length + t];

        /// <summary>The first key token t of sequence s sees (a non-decreasing function of t).</summary>
        public readonly int FirstKey(int s, int t) => Window > 0 ? Math.Max(ExampleStart(s, t), t + 1 - Window) : ExampleStart(s, t);

        /// <summary>The [length, length] weights (or score gradients) of head h of sequence s.</summary>
        public readonly float* Weights(float* all, int s, int h) => all + ((long)s * Heads + h) * Length * Length;

        /// <summary>Head h's first element in sequence s of a [tokens, heads × headDim] buffer (rows QueryRow apart).</summary>
        public readonly float* QueryHead(float* all, int s, int h) => all + (long)s * Length * QueryRow + h * HeadDim;

        public readonly float* KvHead(float* all, int s, int kvHead) => all + (long)s * Length * KvRow + kvHead * HeadDim;
    }

    /// <param name="query">[sequences × length, heads × headDim]; key and value [sequences × length, kvHeads × headDim].</param>
    /// <param name="positions">Each token's position within its example ([sequences × length]), or empty for one example per sequence.</param>
    /// <param name="probabilities">[sequences, heads, length, length]; row (s, h, t) holds the weights of the keys t sees (others 0).</param>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, int sequences, int length,
        int heads, int kvHeads, int headDim, int window, ReadOnlySpan<float> alibiSlopes, ReadOnlySpan<int> positions,
        Span<float> probabilities, Span<float> output)
    {
        Check(query.Length, key.Length, value.Length, output.Length, sequences, length, heads, kvHeads, headDim, positions.Length, probabilities.Length);
        fixed (float* q = query) fixed (float* k = key) fixed (float* v = value) fixed (float* slopes = alibiSlopes)
        fixed (int* p = positions) fixed (float* w = probabilities) fixed (float* o = output)
        {
            var job = new Job
            {
                Query = q, Key = k, Value = v, Slopes = alibiSlopes.IsEmpty ? null : slopes, Positions = positions.IsEmpty ? null : p,
                Probabilities = w, Output = o, Length = length, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Window = window,
                Scale = 1f / MathF.Sqrt(headDim),
            };
            WorkerPool.Shared.Run(&ForwardHead, &job, sequences * heads);
        }
    }

    static void ForwardHead(void* state, int chunk)
    {
        ref var job = ref *(Job*)state;
        int s = chunk / job.Heads, h = chunk % job.Heads, kvHead = h / (job.Heads / job.KvHeads), length = job.Length, headDim = job.HeadDim;
        float* weights = job.Weights(job.Probabilities, s, h);
        float* query = job.QueryHead(job.Query, s, h), output = job.QueryHead(job.Output, s, h);
        float* key = job.KvHead(job.Key, s, kvHead), value = job.KvHead(job.Value, s, kvHead);
        new Span<float>(weights, length * length).Clear();
        for (int t0 = 0; t0 < length; t0 += Block)
        {
            // Queries t0 .. t1 − 1 see keys from the first one's first key to t1 − 1 at most.
            int t1 = Math.Min(length, t0 + Block), k0 = job.FirstKey(s, t0);
            float* rows = weights + (long)t0 * length + k0;
            TrainingProducts.MultiplyTransposedAdd(query + (long)t0 * job.QueryRow, job.QueryRow, key + (long)k0 * job.KvRow, job.KvRow,
                rows, length, t1 - t0, headDim, t1 - k0, job.Scale, TrainingProducts.Serial);
            for (int t = t0; t < t1; t++)
            {
                var p = new Span<float>(weights + (long)t * length, length);
                int start = job.ExampleStart(s, t), first = job.FirstKey(s, t);
                if (job.Slopes != null)
                    for (int k = first; k <= t; k++) p[k] += job.Slopes[h] * (k - start);
                Activations.Softmax(p[first..(t + 1)]);
                p[k0..first].Clear();
                p[(t + 1)..t1].Clear();
                new Span<float>(output + (long)t * job.QueryRow, headDim).Clear();
            }
            TrainingProducts.MultiplyAdd(rows, length, 1, value + (long)k0 * job.KvRow, job.KvRow, output + (long)t0 * job.QueryRow, job.QueryRow,
                t1 - t0, t1 - k0, headDim, 1f, TrainingProducts.Serial);
        }
    }

    /// <summary>
    /// From dOutput, writes dQuery, dKey and dValue (same layouts as the inputs), in two passes: per query head, the
    /// score gradients (into <paramref name="dScores"/>, shaped like the weights) and dQuery; then per KV head and
    /// block of keys, dKey and dValue summed over the group's heads and the queries that saw each key.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
        ReadOnlySpan<float> probabilities, ReadOnlySpan<float> dOutput, int sequences, int length, int heads, int kvHeads, int headDim,
        int window, ReadOnlySpan<int> positions, Span<float> dScores, Span<float> dQuery, Span<float> dKey, Span<float> dValue)
    {
        Check(query.Length, key.Length, value.Length, dOutput.Length, sequences, length, heads, kvHeads, headDim, positions.Length, probabilities.Length);
        Check(dQuery.Length, dKey.Length, dValue.Length, dQuery.Length, sequences, length, heads, kvHeads, headDim, positions.Length, dScores.Length);
        fixed (float* q = query) fixed (float* k = key) fixed (float* v = value) fixed (float* w = probabilities) fixed (float* dout = dOutput)
        fixed (int* p = positions) fixed (float* ds = dScores) fixed (float* dq = dQuery) fixed (float* dk = dKey) fixed (float* dv = dValue)
        {
            var job = new Job
            {
                Query = q, Key = k, Value = v, Probabilities = w, DOutput = dout, Positions = positions.IsEmpty ? null : p,
                DScores = ds, DQuery = dq, DKey = dk, DValue = dv, Length = length, Heads = heads, KvHeads = kvHeads, HeadDim = headDim,
                Window = window, Scale = 1f / MathF.Sqrt(headDim),
            };
            WorkerPool.Shared.Run(&BackwardQueries, &job, sequences * heads);
            WorkerPool.Shared.Run(&BackwardKeys, &job, sequences * kvHeads * ((length + Block - 1) / Block));
        }
    }

    /// <summary>Score gradients dS = p·(dp − Σ p·dp)·scale with dp = dOutput·vᵀ, and dQuery = dS·key, for one (sequence, head).</summary>
    static void BackwardQueries(void* state, int chunk)
    {
        ref var job = ref *(Job*)state;
        int s = chunk / job.Heads, h = chunk % job.Heads, kvHead = h / (job.Heads / job.KvHeads), length = job.Length, headDim = job.HeadDim;
        float* weights = job.Weights(job.Probabilities, s, h), scores = job.Weights(job.DScores, s, h);
        float* dOutput = job.QueryHead(job.DOutput, s, h), dQuery = job.QueryHead(job.DQuery, s, h);
        float* key = job.KvHead(job.Key, s, kvHead), value = job.KvHead(job.Value, s, kvHead);
        new Span<float>(scores, length * length).Clear();
        for (int t0 = 0; t0 < length; t0 += Block)
        {
            int t1 = Math.Min(length, t0 + Block), k0 = job.FirstKey(s, t0);
            float* rows = scores + (long)t0 * length + k0;
            TrainingProducts.MultiplyTransposedAdd(dOutput + (long)t0 * job.QueryRow, job.QueryRow, value + (long)k0 * job.KvRow, job.KvRow,
                rows, length, t1 - t0, headDim, t1 - k0, 1f, TrainingProducts.Serial);
            for (int t = t0; t < t1; t++)
            {
                var p = new ReadOnlySpan<float>(weights + (long)t * length, length);
                var ds = new Span<float>(scores + (long)t * length, length);
                int first = job.FirstKey(s, t);
                double weighted = 0;
                for (int k = first; k <= t; k++) weighted += (double)p[k] * ds[k];
                for (int k = first; k <= t; k++) ds[k] = p[k] * (ds[k] - (float)weighted) * job.Scale;
                ds[k0..first].Clear();
                ds[(t + 1)..t1].Clear();
                new Span<float>(dQuery + (long)t * job.QueryRow, headDim).Clear();
            }
            TrainingProducts.MultiplyAdd(rows, length, 1, key + (long)k0 * job.KvRow, job.KvRow, dQuery + (long)t0 * job.QueryRow, job.QueryRow,
                t1 - t0, t1 - k0, headDim, 1f, TrainingProducts.Serial);
        }
    }

    /// <summary>dKey = Σ dSᵀ·query and dValue = Σ pᵀ·dOutput over the group's heads, for one block of keys of one (sequence, KV head).</summary>
    static void BackwardKeys(void* state, int chunk)
    {
        ref var job = ref *(Job*)state;
        int blocks = (job.Length + Block - 1) / Block, length = job.Length, headDim = job.HeadDim, group = job.Heads / job.KvHeads;
        int s = chunk / (job.KvHeads * blocks), kvHead = chunk / blocks % job.KvHeads, k0 = chunk % blocks * Block, k1 = Math.Min(length, k0 + Block);
        // The queries that see keys k0 .. k1 − 1: from k0 on, while their first key is before k1.
        int t1 = k1;
        while (t1 < length && job.FirstKey(s, t1) < k1) t1++;
        float* dKey = job.KvHead(job.DKey, s, kvHead) + (long)k0 * job.KvRow, dValue = job.KvHead(job.DValue, s, kvHead) + (long)k0 * job.KvRow;
        for (int k = 0; k < k1 - k0; k++)
        {
            new Span<float>(dKey + (long)k * job.KvRow, headDim).Clear();
            new Span<float>(dValue + (long)k * job.KvRow, headDim).Clear();
        }
        for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
        {
            // A(key, query) = weights[query, key]: rows one element apart, queries a whole row apart.
            long at = (long)k0 * length + k0;
            TrainingProducts.MultiplyAdd(job.Weights(job.DScores, s, h) + at, 1, length, job.QueryHead(job.Query, s, h) + (long)k0 * job.QueryRow,
                job.QueryRow, dKey, job.KvRow, k1 - k0, t1 - k0, headDim, 1f, TrainingProducts.Serial);
            TrainingProducts.MultiplyAdd(job.Weights(job.Probabilities, s, h) + at, 1, length, job.QueryHead(job.DOutput, s, h) + (long)k0 * job.QueryRow,
                job.QueryRow, dValue, job.KvRow, k1 - k0, t1 - k0, headDim, 1f, TrainingProducts.Serial);
        }
    }

    static void Check(int queryLength, int keyLength, int valueLength, int outputLength, int sequences, int length, int heads, int kvHeads,
        int headDim, int positions, int weights)
    {
        long tokens = (long)sequences * length;
        if (sequences <= 0 || length <= 0 || kvHeads <= 0 || heads % kvHeads != 0 || queryLength < tokens * heads * headDim
            || outputLength < tokens * heads * headDim || keyLength < tokens * kvHeads * headDim || valueLength < tokens * kvHeads * headDim
            || (positions != 0 && positions != tokens) || weights < tokens * heads * length)
            throw new ArgumentException($"attention shapes do not fit: {sequences}×{length} tokens, heads {heads}/{kvHeads}, head size {headDim}");
    }
}
