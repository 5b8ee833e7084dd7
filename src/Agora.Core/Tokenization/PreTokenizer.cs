using System.Globalization;
using System.Text;

namespace Agora.Tokenization;

/// <summary>
/// The pieces of one stretch of input on their way to the model: ranges over <see cref="Text"/>. Splitting steps
/// only refine the ranges; rewriting steps (Metaspace, a prefix space) build a new text. Reused across calls.
/// </summary>
sealed class PreTokenized
{
    public string Text = "";
    public List<(int Start, int Length)> Pieces = new(), Next = new();
    public readonly List<(int Start, int Length)> Found = new();
    /// <summary>The pieces are raw text still to be spelled in the byte-level alphabet (done by the model).</summary>
    public bool ByteLevel;
    /// <summary>The text begins at the start of the whole input (Metaspace's prepend scheme "first").</summary>
    public bool AtInputStart;

    public void Reset(string text, int start, int length, bool atInputStart)
    {
        Text = text;
        Pieces.Clear();
        if (length > 0) Pieces.Add((start, length));
        ByteLevel = false;
        AtInputStart = atInputStart;
    }

    public ReadOnlySpan<char> this[int i] => Text.AsSpan(Pieces[i].Start, Pieces[i].Length);

    public void SwapIn()
    {
        (Pieces, Next) = (Next, Pieces);
        Next.Clear();
    }

    /// <summary>Rebuilds the text with each piece rewritten (empty results are dropped).</summary>
    public void Rewrite(Action<int, ReadOnlySpan<char>, StringBuilder> rewrite)
    {
        var sb = new StringBuilder(Text.Length + 8);
        Next.Clear();
        for (int i = 0; i < Pieces.Count; i++)
        {
            int start = sb.Length;
            rewrite(i, this[i], sb);
            if (sb.Length > start) Next.Add((start, sb.Length - start));
        }
        Text = sb.ToString();
        SwapIn();
    }
}

abstract class PreTokenizer
{
    public abstract void Apply(PreTokenized p);
}

/// <summary>Finds non-overlapping matches in a piece (a regex, a literal, a character class).</summary>
interface IMatcher
{
    void Matches(ReadOnlySpan<char> text, List<(int Start, int Length)> found);
}

/// <summary>Runs of characters (or single characters) satisfying a predicate.</summary>
sealed class CharClassMatcher(Func<Rune, bool> predicate, bool eachCharAlone) : IMatcher
{
    public void Matches(ReadOnlySpan<char> text, List<(int Start, int Length)> found)
    {
        int runStart = -1;
        for (int i = 0; i < text.Length;)
        {
            Rune.DecodeFromUtf16(text[i..], out var r, out int len);
            bool hit = predicate(r);
            if (hit && eachCharAlone) found.Add((i, len));
            else if (hit && runStart < 0) runStart = i;
            else if (!hit && runStart >= 0) { found.Add((runStart, i - runStart)); runStart = -1; }
            i += len;
        }
        if (runStart >= 0) found.Add((runStart, text.Length - runStart));
    }
}

sealed class TextPatternMatcher(TextPattern pattern) : IMatcher
{
    public void Matches(ReadOnlySpan<char> text, List<(int Start, int Length)> found) => pattern.Matches(text, found);
}

enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>
/// Hugging Face's Split: cut each piece at the matches of a pattern; the behaviour says what happens to the matched
/// text (dropped, its own piece, glued to the piece before or after, consecutive matches fused); invert swaps the
/// roles of matches and the text between them.
/// </summary>
sealed class SplitPreTokenizer(IMatcher matcher, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override void Apply(PreTokenized p)
    {
        var found = p.Found;
        foreach (var (pieceStart, pieceLength) in p.Pieces)
        {
            found.Clear();
            matcher.Matches(p.Text.AsSpan(pieceStart, pieceLength), found);
            Emit(p.Next, pieceStart, pieceLength, found);
        }
        p.SwapIn();
    }

    void Emit(List<(int, int)> output, int offset, int length, List<(int Start, int Length)> matches)
    {
        // Walk the piece as alternating gaps and matches; `pending` is a piece being built (start, end).
        int pendingStart = -1, pendingEnd = -1;
        bool pendingIsMatch = false;
        int at = 0;
        for (int m = 0; m <= matches.Count; m++)
        {
            int ms = m < matches.Count ? matches[m].Start : length;
            int me = m < matches.Count ? matches[m].Start + matches[m].Length : length;
            if (ms > at) Part(at, ms, invert);
            if (me > ms) Part(ms, me, !invert);
            at = me;
        }
        if (pendingStart >= 0) output.Add((offset + pendingStart, pendingEnd - pendingStart));

        void Part(int s, int e, bool isMatch)
        {
            switch (behavior)
            {
                case SplitBehavior.Removed:
                    if (!isMatch) output.Add((offset + s, e - s));
                    return;
                case SplitBehavior.Isolated:
                    output.Add((offset + s, e - s));
                    return;
                case SplitBehavior.MergedWithPrevious:
                    if (isMatch && pendingStart >= 0 && !pendingIsMatch) { pendingEnd = e; pendingIsMatch = true; return; }
                    Flush(); pendingStart = s; pendingEnd = e; pendingIsMatch = isMatch;
                    return;
                case SplitBehavior.MergedWithNext:
                    if (!isMatch && pendingStart >= 0 && pendingIsMatch) { pendingEnd = e; pendingIsMatch = false; return; }
                    Flush(); pendingStart = s; pendingEnd = e; pendingIsMatch = isMatch;
                    return;
                case SplitBehavior.Contiguous:
                    if (isMatch && pendingStart >= 0 && pendingIsMatch) { pendingEnd = e; return; }
                    Flush(); pendingStart = s; pendingEnd = e; pendingIsMatch = isMatch;
                    return;
            }
        }

        void Flush()
        {
            if (pendingStart >= 0) output.Add((offset + pendingStart, pendingEnd - pendingStart));
            pendingStart = -1;
        }
    }
}

/// <summary>
/// GPT-2's byte-level pre-tokenizer: optionally a space before each piece, optionally the GPT-2 split, then every
/// byte spelled as one character of <see cref="ByteLevelAlphabet"/> (deferred to the model, which does it per piece).
/// </summary>
sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    static readonly SplitPreTokenizer Gpt2Split = new(Gpt2Splitter.Gpt2, SplitBehavior.Isolated, false);

    public override void Apply(PreTokenized p)
    {
        if (addPrefixSpace)
            p.Rewrite((_, piece, sb) => { if (piece.Length > 0 && piece[0] != ' ') sb.Append(' '); sb.Append(piece); });
        if (useRegex) Gpt2Split.Apply(p);
        p.ByteLevel = true;
    }
}

enum PrependScheme { Always, First, Never }

/// <summary>SentencePiece's spaces: ' ' becomes '▁', a '▁' goes in front (always, or only at the input start),
/// and optionally each '▁' starts a new piece.</summary>
sealed class MetaspacePreTokenizer(char replacement, PrependScheme scheme, bool split) : PreTokenizer
{
    readonly SplitPreTokenizer _splitter = new(new CharClassMatcher(r => r.Value == replacement, true), SplitBehavior.MergedWithNext, false);

    public override void Apply(PreTokenized p)
    {
        bool atStart = p.AtInputStart;
        p.Rewrite((i, piece, sb) =>
        {
            bool prepend = scheme == PrependScheme.Always || (scheme == PrependScheme.First && atStart && i == 0);
            // the check comes after the spaces are replaced, so a leading space counts as a replacement already there
            if (prepend && piece.Length > 0 && piece[0] != replacement && piece[0] != ' ') sb.Append(replacement);
            foreach (char c in piece) sb.Append(c == ' ' ? replacement : c);
        });
        if (split) _splitter.Apply(p);
    }
}

sealed class SequencePreTokenizer(IReadOnlyList<PreTokenizer> steps) : PreTokenizer
{
    public override void Apply(PreTokenized p)
    {
        for (int i = 0; i < steps.Count; i++) steps[i].Apply(p); // indexed: foreach over the interface would allocate
    }
}

/// <summary>The character classes behind the simple Hugging Face pre-tokenizers.</summary>
static class PreTokenizers
{
    public static PreTokenizer Digits(bool individual) =>
        new SplitPreTokenizer(new CharClassMatcher(Rune.IsNumber, individual), individual ? SplitBehavior.Isolated : SplitBehavior.Contiguous, false);

    public static PreTokenizer WhitespaceSplit() =>
        new SplitPreTokenizer(new CharClassMatcher(Rune.IsWhiteSpace, false), SplitBehavior.Removed, false);

    /// <summary>Hugging Face's Whitespace: the matches of \w+|[^\w\s]+, the rest dropped.</summary>
    public static PreTokenizer Whitespace() =>
        new SplitPreTokenizer(new TextPatternMatcher(TextPattern.FromRegex(@"\w+|[^\w\s]+")), SplitBehavior.Removed, true);

    public static PreTokenizer Punctuation(SplitBehavior behavior) =>
        new SplitPreTokenizer(new CharClassMatcher(IsPunctuation, true), behavior, false);

    /// <summary>BERT's: split on whitespace, then isolate each punctuation character.</summary>
    public static PreTokenizer Bert() => new SequencePreTokenizer([WhitespaceSplit(), Punctuation(SplitBehavior.Isolated)]);

    static bool IsPunctuation(Rune r) =>
        (r.IsAscii && char.IsAsciiLetterOrDigit((char)r.Value) == false && r.Value > ' ' && r.Value < 127) ||
        Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
}
