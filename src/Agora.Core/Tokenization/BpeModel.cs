using System.Text;

namespace Agora.Tokenization;

/// <summary>Options of a BPE model, as Hugging Face's <c>model</c> section spells them.</summary>
sealed record BpeOptions
{
    public string? UnkToken { get; init; }
    public bool FuseUnk { get; init; }
    public bool ByteFallback { get; init; }
    public bool IgnoreMerges { get; init; }
    public string ContinuingSubwordPrefix { get; init; } = "";
    public string EndOfWordSuffix { get; init; } = "";
}

/// <summary>
/// Byte-pair encoding of one pre-tokenized piece: start from one symbol per character (or per byte, for byte-level
/// vocabularies), then repeatedly merge the adjacent pair with the lowest merge rank, leftmost first — exactly the
/// order Hugging Face's BPE and llama.cpp use. Merge ranks live in a hash map keyed by the pair of ids, so the loop
/// never builds strings; results are cached per piece in the caller's <see cref="BpeScratch"/>.
/// </summary>
sealed class BpeModel
{
    readonly Dictionary<string, int> _vocab;
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    readonly MergeTable _merges;
    /// <summary>Rank → the merge it names, so a queued merge is checked without another hash lookup.</summary>
    readonly (int Left, int Right, int Merged)[] _byRank;
    /// <summary>Byte → id of its byte-level character token, or -1.</summary>
    readonly int[] _byteLevelIds = new int[256];
    /// <summary>Byte → id of its "&lt;0xXX&gt;" token, or -1 (only with byte fallback).</summary>
    readonly int[] _fallbackIds = new int[256];
    readonly BpeOptions _options;
    readonly int _unkId = -1;
    readonly int _maxId;
    readonly Lazy<System.Buffers.SearchValues<char>?> _barriers;

    public BpeOptions Options => _options;

    /// <summary>Builds the model; <paramref name="fail"/> must throw (it is given the problem).</summary>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<BpeMerge> merges, BpeOptions options,
        Func<string, Exception> fail)
    {
        _vocab = vocab;
        _maxId = vocab.Count == 0 ? 0 : vocab.Values.Max();
        _barriers = new(FindBarriers);
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _options = options;
        if (options.UnkToken is { } unk)
        {
            if (!vocab.TryGetValue(unk, out _unkId)) throw fail($"the unknown token \"{unk}\" is not in the vocabulary");
        }
        for (int b = 0; b < 256; b++)
        {
            _byteLevelIds[b] = vocab.TryGetValue(ByteLevelAlphabet.ByteToChar[b].ToString(), out var id) ? id : -1;
            _fallbackIds[b] = options.ByteFallback && vocab.TryGetValue($"<0x{b:X2}>", out id) ? id : -1;
        }
        _merges = new MergeTable(merges.Count);
        _byRank = new (int, int, int)[merges.Count];
        string prefix = options.ContinuingSubwordPrefix;
        // Symbols are looked up as spans and the merged token from a buffer: a string per merge (280k for Llama 3)
        // was garbage the GC heap kept committed after loading.
        var buffer = new char[64];
        for (int rank = 0; rank < merges.Count; rank++)
        {
            ReadOnlySpan<char> a = merges[rank].Left, b = merges[rank].Right;
            if (!_vocabBySpan.TryGetValue(a, out var ia)) throw fail($"merge {rank} (\"{a}\" \"{b}\") names \"{a}\", which is not in the vocabulary");
            if (!_vocabBySpan.TryGetValue(b, out var ib)) throw fail($"merge {rank} (\"{a}\" \"{b}\") names \"{b}\", which is not in the vocabulary");
            var tail = prefix.Length > 0 && b.StartsWith(prefix, StringComparison.Ordinal) ? b[prefix.Length..] : b;
            if (buffer.Length < a.Length + tail.Length) buffer = new char[2 * (a.Length + tail.Length)];
            a.CopyTo(buffer);
            tail.CopyTo(buffer.AsSpan(a.Length));
            var merged = buffer.AsSpan(0, a.Length + tail.Length);
            if (!_vocabBySpan.TryGetValue(merged, out var im)) throw fail($"merge {rank} (\"{a}\" \"{b}\") makes \"{merged}\", which is not in the vocabulary");
            // A repeated pair keeps its last rank, as Hugging Face's map building does.
            _merges.Set(ia, ib, rank);
            _byRank[rank] = (ia, ib, im);
        }
    }

    public bool TryGetId(ReadOnlySpan<char> token, out int id) => _vocabBySpan.TryGetValue(token, out id);

    /// <summary>
    /// Ranked merges for a SentencePiece vocabulary that has scores instead of merges: every split of a token into
    /// two vocabulary tokens is a merge, ranked by the merged token's score (higher first), as llama.cpp's SPM does.
    /// </summary>
    public static List<BpeMerge> MergesFromScores(IReadOnlyList<string> vocab, IReadOnlyList<float> scores,
        Func<int, bool>? mergeable = null)
    {
        var ids = new Dictionary<string, int>(vocab.Count);
        for (int i = 0; i < vocab.Count; i++) ids.TryAdd(vocab[i], i);
        var found = new List<(float Score, int Id, string A, string B)>();
        for (int id = 0; id < vocab.Count; id++)
        {
            string t = vocab[id];
            if (t.Length < 2 || (mergeable != null && !mergeable(id))) continue;
            for (int k = 1; k < t.Length; k++)
            {
                if (char.IsLowSurrogate(t[k])) continue;
                string a = t[..k], b = t[k..];
                if (ids.ContainsKey(a) && ids.ContainsKey(b)) found.Add((scores[id], id, a, b));
            }
        }
        found.Sort((x, y) => x.Score != y.Score ? y.Score.CompareTo(x.Score) : x.Id.CompareTo(y.Id));
        return found.ConvertAll(f => BpeMerge.Of(f.A, f.B));
    }

    /// <summary>Appends the ids of one piece. With <paramref name="byteLevel"/> the piece is raw text whose UTF-8
    /// bytes are spelled in the byte-level alphabet first.</summary>
    public void Encode(ReadOnlySpan<char> piece, bool byteLevel, List<int> output, BpeScratch s)
    {
        if (piece.IsEmpty) return;
        if (s.CacheBySpan.TryGetValue(piece, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        if (!byteLevel && piece.Length > BpeScratch.MaxCachedLength && EncodeAroundBarriers(piece, output, s)) return;
        int start = output.Count;
        ReadOnlySpan<char> word = piece;
        if (byteLevel)
        {
            int n = Encoding.UTF8.GetByteCount(piece);
            s.EnsureBytes(n);
            n = Encoding.UTF8.GetBytes(piece, s.Bytes);
            for (int i = 0; i < n; i++) s.Chars[i] = ByteLevelAlphabet.ByteToChar[s.Bytes[i]];
            word = s.Chars.AsSpan(0, n);
        }
        if (_options.IgnoreMerges && _vocabBySpan.TryGetValue(word, out var whole))
            output.Add(whole);
        else
        {
            int count = byteLevel ? ByteLevelSymbols(s) : CharSymbols(word, s);
            Merge(s, count, output);
        }
        if (piece.Length > BpeScratch.MaxCachedLength) return;
        if (s.Cache.Count >= BpeScratch.CacheCapacity) s.Cache.Clear();
        s.Cache[piece.ToString()] = output.GetRange(start, output.Count - start).ToArray();
    }

    /// <summary>
    /// A long piece (a whole unsplit SentencePiece text) is cut at characters whose symbol takes part in no merge,
    /// such as a newline spelled &lt;0x0A&gt;: nothing merges across such a symbol, so the parts encode exactly as the
    /// whole would, and each part is short enough to be cached. Returns false when the piece has no such character.
    /// Not used where a part could differ from the whole (ignore_merges, subword prefixes and suffixes).
    /// </summary>
    bool EncodeAroundBarriers(ReadOnlySpan<char> piece, List<int> output, BpeScratch s)
    {
        var barriers = _barriers.Value;
        if (barriers == null || piece.IndexOfAny(barriers) < 0) return false;
        while (!piece.IsEmpty)
        {
            int cut = piece.IndexOfAny(barriers);
            if (cut < 0) { Encode(piece, false, output, s); break; }
            Encode(piece[..cut], false, output, s);
            Encode(piece.Slice(cut, 1), false, output, s);
            piece = piece[(cut + 1)..];
        }
        return true;
    }

    System.Buffers.SearchValues<char>? FindBarriers()
    {
        if (_options.IgnoreMerges || _options.ContinuingSubwordPrefix.Length > 0 || _options.EndOfWordSuffix.Length > 0) return null;
        var merging = new bool[_maxId + 1];
        foreach (var (left, right, _) in _byRank) { merging[left] = true; merging[right] = true; }
        var found = new List<char>();
        Span<byte> utf8 = stackalloc byte[3];
        for (int c = 0; c < 0xD800; c++)
        {
            ReadOnlySpan<char> text = [(char)c];
            if (_vocabBySpan.TryGetValue(text, out int id)) { if (!merging[id]) found.Add((char)c); continue; }
            // a character missing from the vocabulary: a barrier if it becomes byte tokens that never merge
            int n = Encoding.UTF8.GetBytes(text, utf8);
            bool barrier = _options.ByteFallback;
            for (int i = 0; i < n && barrier; i++) barrier = _fallbackIds[utf8[i]] >= 0 && !merging[_fallbackIds[utf8[i]]];
            if (barrier) found.Add((char)c);
        }
        return found.Count > 0 ? System.Buffers.SearchValues.Create(found.ToArray()) : null;
    }

    int ByteLevelSymbols(BpeScratch s)
    {
        int count = 0;
        var bytes = s.Bytes;
        int n = s.ByteCount;
        for (int i = 0; i < n; i++)
        {
            int id = _byteLevelIds[bytes[i]];
            if (id < 0) { AddUnknownOrFallback(s, ref count, bytes.AsSpan(i, 1)); continue; }
            s.Ids[count++] = id;
        }
        return count;
    }

    int CharSymbols(ReadOnlySpan<char> word, BpeScratch s)
    {
        s.EnsureSymbols(word.Length * 3); // a UTF-16 char is at most 3 UTF-8 bytes, so at most 3 fallback symbols
        string prefix = _options.ContinuingSubwordPrefix, suffix = _options.EndOfWordSuffix;
        Span<char> buf = stackalloc char[2 + prefix.Length + suffix.Length];
        Span<byte> utf8 = stackalloc byte[4];
        int count = 0;
        for (int i = 0; i < word.Length;)
        {
            int len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            int n = 0;
            if (i > 0) { prefix.AsSpan().CopyTo(buf); n = prefix.Length; }
            word.Slice(i, len).CopyTo(buf[n..]); n += len;
            if (i + len == word.Length) { suffix.AsSpan().CopyTo(buf[n..]); n += suffix.Length; }
            if (_vocabBySpan.TryGetValue(buf[..n], out var id)) s.Ids[count++] = id;
            else
            {
                var rune = Rune.DecodeFromUtf16(word.Slice(i, len), out var r, out _) == System.Buffers.OperationStatus.Done ? r : Rune.ReplacementChar;
                int bl = rune.EncodeToUtf8(utf8);
                AddUnknownOrFallback(s, ref count, utf8[..bl]);
            }
            i += len;
        }
        return count;
    }

    /// <summary>A character missing from the vocabulary: its "&lt;0xXX&gt;" tokens if all exist, else the unknown
    /// token (fused with a preceding one if asked), else nothing — Hugging Face drops it silently.</summary>
    void AddUnknownOrFallback(BpeScratch s, ref int count, ReadOnlySpan<byte> bytes)
    {
        bool all = _options.ByteFallback;
        foreach (var b in bytes) all &= _fallbackIds[b] >= 0;
        if (all)
        {
            foreach (var b in bytes) s.Ids[count++] = _fallbackIds[b];
            return;
        }
        if (_unkId < 0) return;
        if (_options.FuseUnk && count > 0 && s.Ids[count - 1] == _unkId) return;
        s.Ids[count++] = _unkId;
    }

    void Merge(BpeScratch s, int count, List<int> output)
    {
        var ids = s.Ids;
        if (count > 1)
        {
            var next = s.Next; var prev = s.Prev; var heap = s.Heap;
            heap.Clear();
            for (int i = 0; i < count; i++) { prev[i] = i - 1; next[i] = i + 1 < count ? i + 1 : -1; }
            for (int i = 0; i + 1 < count; i++) Push(heap, ids, i, i + 1);
            // Heap entries are (rank << 32 | left position): the smallest is the best merge, leftmost on ties.
            // An entry whose pair has changed since it was pushed is stale and skipped.
            while (heap.TryPop(out ulong entry))
            {
                int pos = (int)(uint)entry;
                int right = next[pos];
                if (ids[pos] < 0 || right < 0) continue;
                var (l, r, merged) = _byRank[(int)(entry >> 32)];
                if (ids[pos] != l || ids[right] != r) continue;
                ids[pos] = merged;
                ids[right] = -1;
                next[pos] = next[right];
                if (next[pos] >= 0) prev[next[pos]] = pos;
                if (prev[pos] >= 0) Push(heap, ids, prev[pos], pos);
                if (next[pos] >= 0) Push(heap, ids, pos, next[pos]);
            }
        }
        for (int i = 0; i < count; i++) if (ids[i] >= 0) output.Add(ids[i]);
    }

    void Push(MinHeap heap, int[] ids, int left, int right)
    {
        int rank = _merges.Rank(ids[left], ids[right]);
        if (rank >= 0) heap.Push(((ulong)(uint)rank << 32) | (uint)left);
    }
}

/// <summary>
/// Pair of token ids → merge rank, open addressing in one array so that a lookup costs one cache miss (the table of
/// a large vocabulary is megabytes; lookups of long words miss the cache constantly). A slot holds the pair itself,
/// 12 bytes, and the table is at most two thirds full (a missing pair, most lookups, then probes a few slots in a
/// line or two): Llama 3's 280k merges take 6 MB.
/// </summary>
sealed class MergeTable
{
    struct Slot
    {
        public int Left, Right;
        public int RankPlusOne; // 0: empty
    }

    readonly Slot[] _slots;
    readonly int _shift;

    public MergeTable(int count)
    {
        int bits = Math.Max(4, 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)Math.Max(1, count) * 3 / 2));
        _slots = new Slot[1 << bits];
        _shift = 64 - bits;
    }

    // The pair as one 64-bit word times an odd constant: the product's high bits are a good hash (Fibonacci hashing).
    int Home(int a, int b) => (int)(((((ulong)(uint)a << 32) | (uint)b) * 0x9E3779B97F4A7C15UL) >> _shift);

    public void Set(int a, int b, int rank)
    {
        int mask = _slots.Length - 1;
        for (int i = Home(a, b); ; i = (i + 1) & mask)
        {
            ref var slot = ref _slots[i];
            if (slot.RankPlusOne == 0 || (slot.Left == a && slot.Right == b))
            {
                (slot.Left, slot.Right, slot.RankPlusOne) = (a, b, rank + 1);
                return;
            }
        }
    }

    /// <summary>The rank of merging a then b, or -1.</summary>
    public int Rank(int a, int b)
    {
        int mask = _slots.Length - 1;
        for (int i = Home(a, b); ; i = (i + 1) & mask)
        {
            ref var slot = ref _slots[i];
            if (slot.RankPlusOne == 0 || (slot.Left == a && slot.Right == b)) return slot.RankPlusOne - 1;
        }
    }
}

/// <summary>A binary min-heap of ulongs (the BPE's merge queue; .NET's PriorityQueue was several times slower here).</summary>
sealed class MinHeap
{
    ulong[] _items = new ulong[256];
    int _count;

    public void Clear() => _count = 0;

    public void Push(ulong item)
    {
        if (_count == _items.Length) Array.Resize(ref _items, _count * 2);
        int i = _count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (_items[parent] <= item) break;
            _items[i] = _items[parent];
            i = parent;
        }
        _items[i] = item;
    }

    public bool TryPop(out ulong top)
    {
        if (_count == 0) { top = 0; return false; }
        top = _items[0];
        ulong last = _items[--_count];
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= _count) break;
            if (child + 1 < _count && _items[child + 1] < _items[child]) child++;
            if (last <= _items[child]) break;
            _items[i] = _items[child];
            i = child;
        }
        _items[i] = last;
        return true;
    }
}

/// <summary>Per-thread working memory of the BPE: symbol arrays, the merge heap and the piece → ids cache.</summary>
sealed class BpeScratch
{
    public const int CacheCapacity = 1 << 16;
    /// <summary>Longer pieces (whole unsplit SentencePiece texts) are rarely seen twice and would bloat the cache.</summary>
    public const int MaxCachedLength = 256;
    public readonly Dictionary<string, int[]> Cache = new();
    public readonly Dictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> CacheBySpan;
    public readonly MinHeap Heap = new();
    public byte[] Bytes = new byte[256];
    public char[] Chars = new char[256];
    public int ByteCount;
    public int[] Ids = new int[1024], Next = new int[1024], Prev = new int[1024];

    public BpeScratch() => CacheBySpan = Cache.GetAlternateLookup<ReadOnlySpan<char>>();

    public void EnsureBytes(int n)
    {
        ByteCount = n;
        if (Bytes.Length < n)
        {
            Bytes = new byte[Math.Max(n, Bytes.Length * 2)];
            Chars = new char[Bytes.Length];
        }
        EnsureSymbols(n);
    }

    public void EnsureSymbols(int n)
    {
        if (Ids.Length >= n) return;
        int size = Math.Max(n, Ids.Length * 2);
        Ids = new int[size]; Next = new int[size]; Prev = new int[size];
    }
}
