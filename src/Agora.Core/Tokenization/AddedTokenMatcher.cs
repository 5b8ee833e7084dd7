namespace Agora.Tokenization;

/// <summary>
/// Finds added tokens in text, leftmost-longest, as Hugging Face's added vocabulary does: a char trie walked from
/// each position where some token can start. A match refused by single_word stays ordinary text; lstrip/rstrip
/// widen a match over the whitespace beside it.
/// </summary>
sealed class AddedTokenMatcher
{
    sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedToken? Token;
    }

    readonly Node _root = new();
    readonly bool[] _canStart = new bool[65536];
    public bool IsEmpty { get; }

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        bool any = false;
        foreach (var t in tokens)
        {
            if (t.Content.Length == 0) continue;
            var node = _root;
            foreach (char c in t.Content)
            {
                node.Children ??= new();
                if (!node.Children.TryGetValue(c, out var child)) node.Children[c] = child = new Node();
                node = child;
            }
            node.Token ??= t;
            _canStart[t.Content[0]] = true;
            any = true;
        }
        IsEmpty = !any;
    }

    /// <summary>The next accepted match at or after <paramref name="from"/>: the token and the span it consumes.</summary>
    public bool Next(string text, int from, out AddedToken token, out int start, out int end)
    {
        for (int i = from; i < text.Length; i++)
        {
            if (!_canStart[text[i]]) continue;
            var node = _root;
            AddedToken? best = null;
            int bestEnd = -1;
            for (int j = i; j < text.Length && node.Children != null && node.Children.TryGetValue(text[j], out node!); j++)
                if (node.Token != null) { best = node.Token; bestEnd = j + 1; }
            if (best == null) continue;
            if (best.SingleWord && ((i > 0 && IsWordChar(text[i - 1])) || (bestEnd < text.Length && IsWordChar(text[bestEnd]))))
            {
                i = bestEnd - 1;
                continue;
            }
            start = i;
            end = bestEnd;
            if (best.LStrip) while (start > from && char.IsWhiteSpace(text[start - 1])) start--;
            if (best.RStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            token = best;
            return true;
        }
        token = null!;
        start = end = text.Length;
        return false;
    }

    static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}
