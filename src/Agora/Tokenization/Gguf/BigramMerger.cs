namespace Agora.Tokenization.Gguf;

/// <summary>
/// The merge loop llama.cpp's SPM and BPE tokenizers share: a word starts as one symbol per character, every
/// adjacent pair that may merge goes into a priority queue, and the best pair (lowest key, leftmost on ties) is merged
/// until none is left. Only the pair rule differs: SPM merges pairs whose concatenation is a token, best score first;
/// BPE merges pairs listed in the merges, lowest rank first.
/// </summary>
internal sealed class BigramMerger
{
    /// <summary>Says whether two adjacent symbols may merge and with what key (lower merges first).</summary>
    public delegate bool PairRule(ReadOnlySpan<char> left, ReadOnlySpan<char> right, out double key);

    readonly PairRule rule;

    public BigramMerger(PairRule rule) => this.rule = rule;

    /// <summary>Per-thread buffers so that merging allocates nothing once warm.</summary>
    sealed class Scratch
    {
        [ThreadStatic] static Scratch? current;
        public static Scratch Get() => current ??= new Scratch();
        public int[] Start = new int[64], Length = new int[64], Prev = new int[64], Next = new int[64];
        public readonly PriorityQueue<(int Left, int Right, int Size), (double Key, int Left)> Queue = new(KeyOrder.Instance);

        public void Ensure(int n)
        {
            if (Start.Length >= n) return;
            int size = Math.Max(n, Start.Length * 2);
            Start = new int[size]; Length = new int[size]; Prev = new int[size]; Next = new int[size];
        }
    }

    sealed class KeyOrder : IComparer<(double Key, int Left)>
    {
        public static readonly KeyOrder Instance = new();
        public int Compare((double Key, int Left) a, (double Key, int Left) b) =>
            a.Key != b.Key ? a.Key.CompareTo(b.Key) : a.Left.CompareTo(b.Left);
    }

    /// <summary>
    /// Merges <paramref name="word"/> and appends the final symbols, left to right, to <paramref name="symbols"/> as
    /// (start, length) within the word.
    /// </summary>
    public void Merge(ReadOnlySpan<char> word, List<(int Start, int Length)> symbols)
    {
        if (word.IsEmpty) return;
        var s = Scratch.Get();
        s.Ensure(word.Length);
        int n = 0;
        for (int i = 0; i < word.Length; n++)
        {
            int len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            s.Start[n] = i; s.Length[n] = len; s.Prev[n] = n - 1; s.Next[n] = i + len == word.Length ? -1 : n + 1;
            i += len;
        }
        var q = s.Queue;
        q.Clear();
        for (int i = 1; i < n; i++) TryAdd(word, s, i - 1, i);
        while (q.TryDequeue(out var pair, out _))
        {
            int l = pair.Left, r = pair.Right;
            // A pair is stale once either side has changed: lengths only grow, so the sum tells.
            if (s.Length[l] == 0 || s.Length[r] == 0 || s.Length[l] + s.Length[r] != pair.Size) continue;
            s.Length[l] += s.Length[r];
            s.Length[r] = 0;
            s.Next[l] = s.Next[r];
            if (s.Next[r] >= 0) s.Prev[s.Next[r]] = l;
            TryAdd(word, s, s.Prev[l], l);
            TryAdd(word, s, l, s.Next[l]);
        }
        for (int i = 0; i != -1; i = s.Next[i]) symbols.Add((s.Start[i], s.Length[i]));
    }

    void TryAdd(ReadOnlySpan<char> word, Scratch s, int left, int right)
    {
        if (left < 0 || right < 0) return;
        if (!rule(word.Slice(s.Start[left], s.Length[left]), word.Slice(s.Start[right], s.Length[right]), out double key)) return;
        s.Queue.Enqueue((left, right, s.Length[left] + s.Length[right]), (key, left));
    }
}
