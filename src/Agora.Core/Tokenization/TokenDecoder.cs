using System.Text;

namespace Agora.Tokenization;

/// <summary>
/// One step of Hugging Face's decoder chain: rewrites the list of token strings in place. The final text is the
/// concatenation of what the last step leaves. <paramref name="atStart"/> is false when the list continues text
/// already decoded (streaming), so start-of-text rules (strip the leading space) do not fire again.
/// </summary>
abstract class TokenDecoder
{
    /// <summary>True when the step leaves one string standing for all the text (Fuse, ByteLevel).</summary>
    public virtual bool Fuses => false;
    public abstract void Decode(List<string> tokens, bool atStart, bool fused);
}

sealed class ReplaceDecoder(TextPattern pattern, string content) : TokenDecoder
{
    public override void Decode(List<string> tokens, bool atStart, bool fused)
    {
        for (int i = 0; i < tokens.Count; i++) tokens[i] = pattern.Replace(tokens[i], content);
    }
}

/// <summary>"&lt;0xXX&gt;" tokens become bytes; each run of them is decoded as UTF-8, and a run that is not valid
/// UTF-8 becomes one U+FFFD per byte (Hugging Face's rule, not the usual maximal-subpart one).</summary>
sealed class ByteFallbackDecoder : TokenDecoder
{
    public override void Decode(List<string> tokens, bool atStart, bool fused)
    {
        var result = new List<string>(tokens.Count);
        var run = new List<byte>();
        foreach (var t in tokens)
        {
            if (TryByte(t, out byte b)) { run.Add(b); continue; }
            FlushRun(run, result);
            result.Add(t);
        }
        FlushRun(run, result);
        tokens.Clear();
        tokens.AddRange(result);
    }

    public static bool TryByte(string t, out byte b)
    {
        b = 0;
        return t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>' &&
               byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out b);
    }

    static readonly UTF8Encoding Strict = new(false, true);

    static void FlushRun(List<byte> run, List<string> result)
    {
        if (run.Count == 0) return;
        try { result.Add(Strict.GetString(run.ToArray())); }
        catch (DecoderFallbackException) { for (int i = 0; i < run.Count; i++) result.Add("\uFFFD"); }
        run.Clear();
    }
}

sealed class FuseDecoder : TokenDecoder
{
    public override bool Fuses => true;
    public override void Decode(List<string> tokens, bool atStart, bool fused)
    {
        var all = string.Concat(tokens);
        tokens.Clear();
        tokens.Add(all);
    }
}

/// <summary>Removes up to <c>start</c> leading and <c>stop</c> trailing <c>content</c> characters from each token.</summary>
sealed class StripDecoder(char content, int start, int stop) : TokenDecoder
{
    public override void Decode(List<string> tokens, bool atStart, bool fused)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            int a = 0, b = t.Length;
            // After a fuse the one token is the whole text: its start is the text's start only at the start.
            if (!fused || atStart) while (a < start && a < b && t[a] == content) a++;
            while (t.Length - b < stop && b > a && t[b - 1] == content) b--;
            tokens[i] = t[a..b];
        }
    }
}

/// <summary>'▁' back to ' ', and the space SentencePiece put in front of the text removed.</summary>
sealed class MetaspaceDecoder(char replacement, bool dropPrefixSpace) : TokenDecoder
{
    public override void Decode(List<string> tokens, bool atStart, bool fused)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i].Replace(replacement, ' ');
            if (i == 0 && atStart && dropPrefixSpace && t.StartsWith(' ')) t = t[1..];
            tokens[i] = t;
        }
    }
}

/// <summary>Byte-level characters back to bytes, then UTF-8 with U+FFFD for invalid sequences.</summary>
sealed class ByteLevelDecoder : TokenDecoder
{
    public override bool Fuses => true;
    public override void Decode(List<string> tokens, bool atStart, bool fused)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens) ByteLevelAlphabet.AppendBytes(t, bytes);
        tokens.Clear();
        tokens.Add(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)));
    }
}
