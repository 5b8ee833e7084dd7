namespace Agora.Inference.Sampling;

/// <summary>
/// Chooses next tokens from logits. Each step runs, in transformers' order (<c>generate()</c> applies its logits
/// processors before its warpers, and the warpers as temperature, top-k, top-p, min-p):
/// penalties (repetition, then presence and frequency as llama.cpp) → greedy argmax when the temperature is 0 →
/// temperature → top-k → top-p → min-p → a draw from the softmax of what is left.
/// Probabilities are computed in float64 over the float32 scores; a truncation boundary inside a run of equal
/// scores breaks ties by the lower id. Given the same logits, history and seed the choice is the same on any
/// machine (the generator is <see cref="Xoshiro256"/>; arithmetic is sequential IEEE double with Math.Exp).
/// A step allocates nothing: the scratch buffers are sized to the vocabulary once. Top-k costs O(V log k) (a
/// heap), top-p expected O(V) (quickselect on the probability mass), the rest O(V).
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
        float t = (float)o.Temperature;
        // A temperature so small that the best logit overflows when divided is greedy in the limit, and in fact.
        if (o.IsGreedy || t == 0 || float.IsInfinity(_scores[best] / t))
        {
            _candidates[0] = best;
            _weights[0] = total = 1;
            return 1;
        }
        if (t != 1)
            for (int i = 0; i < _scores.Length; i++) _scores[i] /= t;
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
    /// p or beyond), as transformers' ascending-cumsum rule does; at least one token always stays. Found by
    /// quickselect on the probability mass rather than a sort: expected O(count), the kept tokens left first.
    /// </summary>
    int KeepTopP(int count, double p, double max)
    {
        var c = _candidates.AsSpan(0, count);
        var w = _weights.AsSpan(0, count);
        double z = 0;
        for (int j = 0; j < count; j++) z += w[j] = Math.Exp(_scores[c[j]] - max);
        double target = p * z;
        var order = new Descending(_scores);
        // c[..lo] is kept with mass `kept` (< target); c[hi..] is cut; the boundary lies in c[lo..hi].
        int lo = 0, hi = count;
        double kept = 0;
        while (lo < hi)
        {
            int at = Partition(c, w, lo, hi, order);
            double better = 0;
            for (int j = lo; j < at; j++) better += w[j];
            if (kept + better >= target) { hi = at; continue; }
            kept += better + w[at];
            if (kept >= target) return at + 1;
            lo = at + 1;
        }
        return Math.Max(lo, 1); // rounding left the total just under p: everything seen is kept
    }

    /// <summary>
    /// Partitions c[lo..hi] (weights alongside) around a median-of-three pivot: better candidates before it,
    /// worse after. Returns the pivot's index.
    /// </summary>
    static int Partition(Span<int> c, Span<double> w, int lo, int hi, Descending order)
    {
        int last = hi - 1, mid = lo + (last - lo) / 2;
        if (order.Compare(c[mid], c[lo]) < 0) Swap(c, w, mid, lo);
        if (order.Compare(c[last], c[lo]) < 0) Swap(c, w, last, lo);
        if (order.Compare(c[last], c[mid]) < 0) Swap(c, w, last, mid);
        Swap(c, w, mid, last); // the median as pivot, at the end
        int pivot = c[last], store = lo;
        for (int j = lo; j < last; j++)
            if (order.Compare(c[j], pivot) < 0) Swap(c, w, j, store++);
        Swap(c, w, store, last);
        return store;
    }

    static void Swap(Span<int> c, Span<double> w, int i, int j)
    {
        (c[i], c[j]) = (c[j], c[i]);
        (w[i], w[j]) = (w[j], w[i]);
    }

    /// <summary>
    /// Drops tokens whose probability is below minP times the best one's: exp(s − max) &lt; minP, compared as
    /// s &lt; max + ln(minP) to spare an exponential per token.
    /// </summary>
    int KeepMinP(int count, double minP, double max)
    {
        double floor = max + Math.Log(minP);
        int kept = 0;
        for (int j = 0; j < count; j++)
        {
            int id = _candidates[j];
            if (_scores[id] >= floor) _candidates[kept++] = id;
        }
        return kept;
    }

    /// <summary>
    /// Moves the <paramref name="best"/> highest-scoring candidates to the front in descending order (ties by
    /// lower id), the rest after them in any order: a heap of the best seen so far, then heapsort of it,
    /// O(count · log best) and allocation-free (Span.Sort would box the comparer).
    /// </summary>
    void SelectBest(int count, int best)
    {
        var order = new Descending(_scores);
        var c = _candidates.AsSpan(0, count);
        int size = Math.Min(best, count);
        // A heap on c[..size] whose root is the worst of the best so far.
        for (int i = size / 2 - 1; i >= 0; i--) SiftDown(c, i, size, order);
        for (int j = size; j < count; j++)
        {
            if (order.Compare(c[j], c[0]) >= 0) continue;
            (c[0], c[j]) = (c[j], c[0]);
            SiftDown(c, 0, size, order);
        }
        // Taking the worst off to the end, one by one, leaves the best first.
        for (int end = size - 1; end > 0; end--)
        {
            (c[0], c[end]) = (c[end], c[0]);
            SiftDown(c, 0, end, order);
        }
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
