using System.Numerics.Tensors;
using Agora.Tensors.Kernels;
using Agora.Tensors.Threading;

namespace Agora.Training;

/// <summary>
/// Causal grouped-query attention over a batch of sequences that keeps its attention weights for the backward
/// pass, and that backward pass. Same semantics as inference's CausalAttention (scale 1/√headDim, optional
/// sliding window, ALiBi bias slope·p on key position p); each sequence attends only within itself, and in a packed
/// batch (<see cref="TrainingBatch.Positions"/>) each example only within itself: the query at t sees keys from its
/// example's start, t − position[t], on. ALiBi takes positions within the example, so a packed example scores
/// exactly as it would alone. Work runs on the shared <see cref="WorkerPool"/>, chunks handed out one at a time;
/// every output element has one writer in a fixed order, so results do not depend on the thread count.
/// </summary>
static unsafe class AttentionTraining
{
    /// <summary>The shapes and buffers of one call, on the caller's stack while the pool runs its chunks.</summary>
    struct Job
    {
        public float* Query, Key, Value, Probabilities, DScores, DOutput, Output, DQuery, DKey, DValue, Slopes;
        public int* Positions;
        public int Sequences, Length, Heads, KvHeads, HeadDim, Window;

        /// <summary>Where the example of token t of sequence s starts (its first key), before the window.</summary>
        public readonly int ExampleStart(int s, int t) => Positions == null ? 0 : t - Positions[s * Length + t];

        public readonly int FirstKey(int s, int t) => Window > 0 ? Math.Max(ExampleStart(s, t), t + 1 - Window) : ExampleStart(s, t);

        /// <summary>Row (s, h, t) of the [sequences, heads, length, length] weights.</summary>
        public readonly long WeightRow(int s, int h, int t) => (((long)s * Heads + h) * Length + t) * Length;

        public readonly float* QueryRow(float* q, int s, int t, int h) => q + ((long)s * Length + t) * Heads * HeadDim + h * HeadDim;

        public readonly float* KvRow(float* kv, int s, int k, int kvHead) => kv + ((long)s * Length + k) * KvHeads * HeadDim + kvHead * HeadDim;
    }

    // Keys per chunk of the backward's key pass.
    const int KeyBlock = 16;

    /// <param name="query">[sequences × length, heads × headDim]; key and value [sequences × length, kvHeads × headDim].</param>
    /// <param name="positions">Each token's position within its example ([sequences × length]), or empty for one example per sequence.</param>
    /// <param name="probabilities">[sequences, heads, length, length]; row (s, h, t) holds the weights of the keys t sees (others 0).</param>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, int sequences, int length,
        int heads, int kvHeads, int headDim, int window, ReadOnlySpan<float> alibiSlopes, ReadOnlySpan<int> positions,
        Span<float> probabilities, Span<float> output)
    {
        Check(query.Length, key.Length, sequences, length, heads, kvHeads, headDim, positions.Length, probabilities.Length);
        fixed (float* q = query) fixed (float* k = key) fixed (float* v = value) fixed (float* slopes = alibiSlopes)
        fixed (int* p = positions) fixed (float* w = probabilities) fixed (float* o = output)
        {
            var job = new Job
            {
                Query = q, Key = k, Value = v, Slopes = alibiSlopes.IsEmpty ? null : slopes, Positions = positions.IsEmpty ? null : p,
                Probabilities = w, Output = o, Sequences = sequences, Length = length, Heads = heads, KvHeads = kvHeads,
                HeadDim = headDim, Window = window,
            };
            WorkerPool.Shared.Run(&ForwardHead, &job, sequences * heads);
        }
    }

    static void ForwardHead(void* state, int chunk)
    {
        ref var job = ref *(Job*)state;
        int s = chunk / job.Heads, h = chunk % job.Heads, kvHead = h / (job.Heads / job.KvHeads), headDim = job.HeadDim;
        float scale = 1f / MathF.Sqrt(headDim);
        for (int t = 0; t < job.Length; t++)
        {
            var p = new Span<float>(job.Probabilities + job.WeightRow(s, h, t), job.Length);
            p.Clear();
            int start = job.ExampleStart(s, t), first = job.FirstKey(s, t);
            var q = new ReadOnlySpan<float>(job.QueryRow(job.Query, s, t, h), headDim);
            for (int k = first; k <= t; k++)
            {
                p[k] = TensorPrimitives.Dot(q, new ReadOnlySpan<float>(job.KvRow(job.Key, s, k, kvHead), headDim)) * scale;
                if (job.Slopes != null) p[k] += job.Slopes[h] * (k - start);
            }
            Activations.Softmax(p[first..(t + 1)]);
            var o = new Span<float>(job.QueryRow(job.Output, s, t, h), headDim);
            o.Clear();
            for (int k = first; k <= t; k++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(job.KvRow(job.Value, s, k, kvHead), headDim), p[k], o, o);
        }
    }

    /// <summary>
    /// From dOutput, writes dQuery, dKey and dValue (same layouts as the inputs), in two passes: per query head, the
    /// score gradients (into <paramref name="dScores"/>, shaped like the weights) and dQuery; then per KV head and
    /// block of keys, dKey and dValue summed over the queries and heads that saw each key.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
        ReadOnlySpan<float> probabilities, ReadOnlySpan<float> dOutput, int sequences, int length, int heads, int kvHeads, int headDim,
        int window, ReadOnlySpan<int> positions, Span<float> dScores, Span<float> dQuery, Span<float> dKey, Span<float> dValue)
    {
        Check(query.Length, key.Length, sequences, length, heads, kvHeads, headDim, positions.Length, probabilities.Length);
        if (dScores.Length < probabilities.Length) throw new ArgumentException("the score gradients need as much room as the weights");
        fixed (float* q = query) fixed (float* k = key) fixed (float* v = value) fixed (float* w = probabilities) fixed (float* dout = dOutput)
        fixed (int* p = positions) fixed (float* ds = dScores) fixed (float* dq = dQuery) fixed (float* dk = dKey) fixed (float* dv = dValue)
        {
            var job = new Job
            {
                Query = q, Key = k, Value = v, Probabilities = w, DOutput = dout, Positions = positions.IsEmpty ? null : p,
                DScores = ds, DQuery = dq, DKey = dk, DValue = dv, Sequences = sequences, Length = length, Heads = heads,
                KvHeads = kvHeads, HeadDim = headDim, Window = window,
            };
            WorkerPool.Shared.Run(&BackwardQueries, &job, sequences * heads);
            WorkerPool.Shared.Run(&BackwardKeys, &job, sequences * kvHeads * ((length + KeyBlock - 1) / KeyBlock));
        }
    }

    /// <summary>Score gradients dS = p·(dp − Σ p·dp)·scale with dp = dOutput·v, and dQuery = Σₖ dS·key, for one (sequence, head).</summary>
    static void BackwardQueries(void* state, int chunk)
    {
        ref var job = ref *(Job*)state;
        int s = chunk / job.Heads, h = chunk % job.Heads, kvHead = h / (job.Heads / job.KvHeads), headDim = job.HeadDim;
        float scale = 1f / MathF.Sqrt(headDim);
        for (int t = 0; t < job.Length; t++)
        {
            int first = job.FirstKey(s, t);
            float* p = job.Probabilities + job.WeightRow(s, h, t);
            float* ds = job.DScores + job.WeightRow(s, h, t);
            var dout = new ReadOnlySpan<float>(job.QueryRow(job.DOutput, s, t, h), headDim);
            double weighted = 0;
            for (int k = first; k <= t; k++)
            {
                ds[k] = TensorPrimitives.Dot(dout, new ReadOnlySpan<float>(job.KvRow(job.Value, s, k, kvHead), headDim));
                weighted += (double)p[k] * ds[k];
            }
            var dq = new Span<float>(job.QueryRow(job.DQuery, s, t, h), headDim);
            dq.Clear();
            for (int k = first; k <= t; k++)
            {
                ds[k] = p[k] * (ds[k] - (float)weighted) * scale;
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(job.KvRow(job.Key, s, k, kvHead), headDim), ds[k], dq, dq);
            }
        }
    }

    /// <summary>dKey = Σ dS·query and dValue = Σ p·dOutput over the group's heads and the queries that saw each key of one block.</summary>
    static void BackwardKeys(void* state, int chunk)
    {
        ref var job = ref *(Job*)state;
        int blocks = (job.Length + KeyBlock - 1) / KeyBlock, headDim = job.HeadDim, group = job.Heads / job.KvHeads;
        int s = chunk / (job.KvHeads * blocks), kvHead = chunk / blocks % job.KvHeads, block = chunk % blocks;
        for (int k = block * KeyBlock; k < Math.Min(job.Length, (block + 1) * KeyBlock); k++)
        {
            var dk = new Span<float>(job.KvRow(job.DKey, s, k, kvHead), headDim);
            var dv = new Span<float>(job.KvRow(job.DValue, s, k, kvHead), headDim);
            dk.Clear();
            dv.Clear();
            for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
                // The queries that see key k: from k on, while their first key is not past k.
                for (int t = k; t < job.Length && job.FirstKey(s, t) <= k; t++)
                {
                    long at = job.WeightRow(s, h, t) + k;
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(job.QueryRow(job.Query, s, t, h), headDim), job.DScores[at], dk, dk);
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(job.QueryRow(job.DOutput, s, t, h), headDim), job.Probabilities[at], dv, dv);
                }
        }
    }

    static void Check(int queryLength, int keyLength, int sequences, int length, int heads, int kvHeads, int headDim, int positions, int weights)
    {
        long tokens = (long)sequences * length;
        if (sequences <= 0 || length <= 0 || kvHeads <= 0 || heads % kvHeads != 0 || queryLength < tokens * heads * headDim
            || keyLength < tokens * kvHeads * headDim || (positions != 0 && positions != tokens) || weights < tokens * heads * length)
            throw new ArgumentException($"attention shapes do not fit: {sequences}×{length} tokens, heads {heads}/{kvHeads}, head size {headDim}");
    }
}
