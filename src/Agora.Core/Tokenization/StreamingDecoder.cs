namespace Agora.Tokenization;

/// <summary>
/// Decodes ids as they are generated. <see cref="Push"/> returns only text that can no longer change: ids are held
/// while the text they decode to ends in U+FFFD (a character still split over byte tokens), then decoded together,
/// so a multi-byte character comes out whole and invalid bytes come out as the full <see cref="Tokenizer.Decode"/>
/// would show them. The concatenation of all Push results and <see cref="Flush"/> equals Decode of all ids —
/// with two exceptions no real model output should meet: more than <see cref="MaxHeld"/> ids in a row whose text
/// ends in U+FFFD are given out anyway (so a run of genuine '\uFFFD' characters cannot make every push redo the
/// whole run), and Hugging Face's ByteFallback turns a run of byte tokens that is invalid as a whole into one U+FFFD
/// per byte, where streaming has already given out the valid characters at the run's start.
/// </summary>
public sealed class StreamingDecoder
{
    readonly IChunkDecoder _tokenizer;
    readonly bool _skipSpecial;
    readonly List<int> _pending = new();
    bool _atStart = true;
    const int MaxHeld = 16;

    internal StreamingDecoder(IChunkDecoder tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecial = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the text that became complete (often empty).</summary>
    public string Push(int id)
    {
        _pending.Add(id);
        string text;
        int count;
        try
        {
            text = _tokenizer.DecodeChunk(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending), _skipSpecial, _atStart, out count);
        }
        catch
        {
            // An unknown id must not poison the ids already held.
            _pending.RemoveAt(_pending.Count - 1);
            throw;
        }
        if (text.EndsWith('\uFFFD') && _pending.Count < MaxHeld) return "";
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
