namespace Agora.Tokenization;

/// <summary>
/// Decodes ids as they are generated. <see cref="Push"/> returns only text that can no longer change: ids are held
/// while the text they decode to ends in U+FFFD (a character still split over byte tokens), then decoded together,
/// so a multi-byte character comes out whole and invalid bytes come out as the full <see cref="Tokenizer.Decode"/>
/// would show them. The concatenation of all Push results and <see cref="Flush"/> equals Decode of all ids.
/// </summary>
public sealed class StreamingDecoder
{
    readonly Tokenizer _tokenizer;
    readonly bool _skipSpecial;
    readonly List<int> _pending = new();
    bool _atStart = true;

    internal StreamingDecoder(Tokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecial = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the text that became complete (often empty).</summary>
    public string Push(int id)
    {
        _tokenizer.TokenText(id); // validates the id before it joins the pending ones
        _pending.Add(id);
        var text = _tokenizer.DecodeChunk(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending), _skipSpecial, _atStart, out int count);
        if (text.EndsWith('\uFFFD')) return "";
        Commit(count);
        return text;
    }

    /// <summary>Returns whatever is still held (incomplete characters as U+FFFD) and starts over.</summary>
    public string Flush()
    {
        var text = _tokenizer.DecodeChunk(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending), _skipSpecial, _atStart, out int count);
        Commit(count);
        return text;
    }

    void Commit(int tokenCount)
    {
        _pending.Clear();
        if (tokenCount > 0) _atStart = false;
    }
}
