namespace Agora.Inference.Sampling;

/// <summary>
/// Chooses next tokens from logits. Each step runs, in transformers' order (<c>generate()</c> applies its logits
/// processors before its warpers, and the warpers as temperature, top-k, top-p, min-p):
/// penalties (repetition, then presence and frequency as llama.cpp) → greedy argmax when the temperature is 0 →
/// temperature → top-k → top-p → min-p → a draw from the softmax of what is left.
/// Probabilities are computed in float64 over the float32 scores; a truncation boundary inside a run of equal
/// scores breaks ties by the lower id. Given the same logits, history and seed the choice is the same on any
/// machine (the generator is <see cref="Xoshiro256"/>; arithmetic is sequential IEEE double with Math.Exp).
/// A step allocates nothing: the scratch buffers are sized to the vocabulary once. Top-k costs O(V log k); top-p
/// sorts only the most likely tokens, widening the sorted prefix until it holds the nucleus.
/// One sampler serves one sequence at a time (it holds the random state); it is not thread-safe.
/// </summary>
public sealed class Sampler
{
    readonly float[] _scores;
    readonly int[] _candidates;
    readonly double[] _weights;
    readonly int[] _counts;
    Xoshiro256 _random;

    public Sampler(SamplerOptions options, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (vocabSize <= 0) throw new AgoraException($"sampling: vocabulary size {vocabSize}, expected a positive number");
        Options = options;
        VocabSize = vocabSize;
        Seed = options.Seed ?? (ulong)Random.Shared.NextInt64() ^ ((ulong)Random.Shared.Next() << 63);
        _random = new Xoshiro256(Seed);
        _scores = new float[vocabSize];
        _candidates = new int[vocabSize];
        _weights = new double[vocabSize];
        _counts = new int[vocabSize];
    }

    public SamplerOptions Options { get; }
    public int VocabSize { get; }
    /// <summary>The seed in use: the one asked for, or the one picked when none was.</summary>
    public ulong Seed { get; }

    /// <summary>
    /// Chooses the next token. <paramref name="history"/> is the sequence so far (prompt and generated tokens),
    /// which the penalties look at.
    /// </summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history = default)
    {
        int count = Process(logits, history, out double total);
        double u = _random.NextDouble() * total;
        double sum = 0;
        for (int j = 0; j < count; j++)
        {
            sum += _weights[j];
            if (u < sum) return _candidates[j];
        }
        // u rounded up to the total: the last token that can be drawn.
        for (int j = count - 1; ; j--)
            if (_weights[j] > 0) return _candidates[j];
    }

    /// <summary>
    /// Writes the distribution <see cref="Sample"/> draws from (zero for every token cut away; one-hot when
    /// greedy) without drawing. <paramref name="probabilities"/> holds <see cref="VocabSize"/> values.
    /// </summary>
    public void GetProbabilities(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, Span<double> probabilities)
    {
        if (probabilities.Length != VocabSize)
            throw new ArgumentException($"expected {VocabSize} probabilities, got {probabilities.Length}", nameof(probabilities));
        int count = Process(logits, history, out double total);
        probabilities.Clear();
        for (int j = 0; j < count; j++) probabilities[_candidates[j]] = _weights[j] / total;
    }

    /// <summary>
    /// The index of the largest value, the lowest one among equals (as torch.argmax). A NaN or +∞ (a broken
    /// forward pass) throws <see cref="AgoraException"/> rather than being silently skipped or chosen.
    /// </summary>
    public static int Argmax(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) throw new ArgumentException("no values", nameof(values));
        int best = 0;
        float max = float.NegativeInfinity;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (v > max) { max = v; best = i; }
            else if (float.IsNaN(v)) throw BrokenLogit(i, v);
        }
        if (float.IsPositiveInfinity(max)) throw BrokenLogit(best, max);
        return best;
    }

    static AgoraException BrokenLogit(int id, float value) =>
        new($"the model produced logit {value} for token {id}: the forward pass overflowed or is broken");

    /// <summary>
    /// Runs the pipeline: leaves the surviving tokens in _candidates[..count] with unnormalised weights
    /// exp(score − max) in _weights[..count], and their sum in <paramref name="total"/>.
    /// </summary>
    int Process(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, out double total)
    {
        if (logits.Length != VocabSize)
            throw new ArgumentException($"expected {VocabSize} logits, got {logits.Length}", nameof(logits));
        var o = Options;
        logits.CopyTo(_scores);
        ApplyPenalties(history);
        int best = Argmax(_scores);
        if (float.IsNegativeInfinity(_scores[best]))
            throw new AgoraException("sampling: every token has probability zero (all logits are -infinity)");
        if (o.IsGreedy)
        {
            _candidates[0] = best;
            _weights[0] = total = 1;
            return 1;
        }
        if (o.Temperature != 1)
        {
            float t = (float)o.Temperature;
            for (int i = 0; i < _scores.Length; i++) _scores[i] /= t;
        }
        // Dividing by a positive temperature keeps the order, so the best token stays the best throughout.
        double max = _scores[best];
        int count = VocabSize;
        for (int i = 0; i < count; i++) _candidates[i] = i;
        if (o.TopK > 0 && o.TopK < count) count = KeepTopK(count, o.TopK);
        if (o.TopP < 1) count = KeepTopP(count, o.TopP, max);
        if (o.MinP > 0) count = KeepMinP(count, o.MinP, max);
        total = 0;
        for (int j = 0; j < count; j++) total += _weights[j] = Math.Exp(_scores[_candidates[j]] - max);
        return count;
    }

    void ApplyPenalties(ReadOnlySpan<int> history)
    {
        var o = Options;
        if (o.RepetitionPenalty == 1 && o.PresencePenalty == 0 && o.FrequencyPenalty == 0) return;
        if (o.PenaltyWindow is int window && window < history.Length) history = history[^window..];
        foreach (int id in history)
        {
            if ((uint)id >= (uint)VocabSize)
                throw new AgoraException($"sampling: token id {id} in the history is outside the vocabulary of {VocabSize}");
            _counts[id]++;
        }
        float repetition = (float)o.RepetitionPenalty, presence = (float)o.PresencePenalty, frequency = (float)o.FrequencyPenalty;
        foreach (int id in history)
        {
            int n = _counts[id];
            if (n == 0) continue; // already penalised at an earlier occurrence
            _counts[id] = 0;
            float s = _scores[id];
            if (repetition != 1) s = s < 0 ? s * repetition : s / repetition;
            _scores[id] = s - (n * frequency + presence);
        }
    }

    /// <summary>Keeps the k best and any tied with the k-th (transformers removes only scores below the k-th).</summary>
    int KeepTopK(int count, int k)
    {
        SelectBest(count, k);
        float kth = _scores[_candidates[k - 1]];
        int kept = k;
        for (int j = k; j < count; j++)
            if (_scores[_candidates[j]] >= kth) (_candidates[kept], _candidates[j]) = (_candidates[j], _candidates[kept++]);
        return kept;
    }

    /// <summary>
    /// Keeps the most likely tokens while the mass before each is below p (so the last one kept takes the mass to
    /// p or beyond), as transformers' ascending-cumsum rule does; at least one token always stays.
    /// </summary>
    int KeepTopP(int count, double p, double max)
    {
        double z = 0;
        for (int j = 0; j < count; j++) z += Math.Exp(_scores[_candidates[j]] - max);
        double target = p * z;
        for (int sorted = Math.Min(count, 64); ; sorted = (int)Math.Min(count, sorted * 8L))
        {
            SelectBest(count, sorted);
            double mass = 0;
            for (int j = 0; j < sorted; j++)
            {
                mass += Math.Exp(_scores[_candidates[j]] - max);
                if (mass >= target) return j + 1;
            }
            if (sorted == count) return count;
        }
    }

    /// <summary>Drops tokens whose probability is below minP times the best one's: exp(s − max) &lt; minP.</summary>
    int KeepMinP(int count, double minP, double max)
    {
        int kept = 0;
        for (int j = 0; j < count; j++)
        {
            int id = _candidates[j];
            if (Math.Exp(_scores[id] - max) >= minP) _candidates[kept++] = id;
        }
        return kept;
    }

    /// <summary>
    /// Moves the <paramref name="best"/> highest-scoring candidates to the front in descending order (ties by
    /// lower id), the rest after them in any order: a heap of the best seen so far, O(count · log best).
    /// </summary>
    void SelectBest(int count, int best)
    {
        var order = new Descending(_scores);
        var c = _candidates.AsSpan(0, count);
        if (best < count)
        {
            // Min-heap on c[..best] whose root is the worst of the best so far.
            for (int i = best / 2 - 1; i >= 0; i--) SiftDown(c, i, best, order);
            for (int j = best; j < count; j++)
            {
                if (order.Compare(c[j], c[0]) >= 0) continue;
                (c[0], c[j]) = (c[j], c[0]);
                SiftDown(c, 0, best, order);
            }
        }
        c[..Math.Min(best, count)].Sort(order);
    }

    static void SiftDown(Span<int> heap, int i, int size, Descending order)
    {
        for (; ; )
        {
            int worst = i, left = 2 * i + 1, right = left + 1;
            if (left < size && order.Compare(heap[left], heap[worst]) > 0) worst = left;
            if (right < size && order.Compare(heap[right], heap[worst]) > 0) worst = right;
            if (worst == i) return;
            (heap[i], heap[worst]) = (heap[worst], heap[i]);
            i = worst;
        }
    }

    /// <summary>Orders token ids by score, highest first, then by id: a total order, so sorting is deterministic.</summary>
    readonly struct Descending(float[] scores) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            int byScore = scores[b].CompareTo(scores[a]);
            return byScore != 0 ? byScore : a.CompareTo(b);
        }
    }
}
