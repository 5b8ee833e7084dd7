using System.Text;

namespace Agora.Tokenization;

/// <summary>
/// A hand-written, allocation-free matcher for the three pre-tokenizer regexes nearly every byte-level model uses
/// (GPT-2's, llama3's and qwen2's). It finds exactly the matches the regex finds — the regex alternatives are tried
/// in order at each position, with the same greedy/backtracking outcome — but on Unicode code points, as Oniguruma
/// does (so a letter outside the BMP is a letter). A differential test holds it to the regex.
/// </summary>
sealed class Gpt2Splitter : IMatcher
{
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    public const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    readonly bool _llama;      // llama3/qwen2 family: case-insensitive contractions, any-prefix letters, newline rules
    readonly int _maxDigits;   // 0: unlimited with optional leading space (GPT-2)

    Gpt2Splitter(bool llama, int maxDigits) { _llama = llama; _maxDigits = maxDigits; }

    public static readonly Gpt2Splitter Gpt2 = new(false, 0);
    public static readonly Gpt2Splitter Llama3 = new(true, 3);
    public static readonly Gpt2Splitter Qwen2 = new(true, 1);

    /// <summary>The hand-written twin of a pattern, or null when the pattern is not one of the three.</summary>
    public static Gpt2Splitter? For(string pattern) => pattern switch
    {
        Gpt2Pattern => Gpt2,
        Llama3Pattern => Llama3,
        Qwen2Pattern => Qwen2,
        _ => null,
    };

    enum Cls : byte { Letter, Number, Space, Other }

    static Cls Classify(ReadOnlySpan<char> t, int i, out int len)
    {
        char c = t[i];
        len = 1;
        if (c < 0x80)
        {
            if ((uint)((c | 0x20) - 'a') <= 'z' - 'a') return Cls.Letter;
            if ((uint)(c - '0') <= 9) return Cls.Number;
            if (c == ' ' || (uint)(c - '\t') <= '\r' - '\t') return Cls.Space;
            return Cls.Other;
        }
        Rune r;
        if (char.IsHighSurrogate(c) && i + 1 < t.Length && char.IsLowSurrogate(t[i + 1])) { r = new Rune(c, t[i + 1]); len = 2; }
        else if (char.IsSurrogate(c)) return Cls.Other;
        else r = new Rune(c);
        if (Rune.IsLetter(r)) return Cls.Letter;
        if (Rune.IsNumber(r)) return Cls.Number;
        if (Rune.IsWhiteSpace(r)) return Cls.Space;
        return Cls.Other;
    }

    /// <summary>End of the run of code points of class <paramref name="cls"/> starting at <paramref name="i"/>.</summary>
    static int RunEnd(ReadOnlySpan<char> t, int i, Cls cls)
    {
        while (i < t.Length && Classify(t, i, out int len) == cls) i += len;
        return i;
    }

    static bool IsNewline(char c) => c is '\r' or '\n';

    public void Matches(ReadOnlySpan<char> t, List<(int Start, int Length)> found)
    {
        int i = 0;
        while (i < t.Length)
        {
            int end = MatchAt(t, i);
            found.Add((i, end - i));
            i = end;
        }
    }

    int MatchAt(ReadOnlySpan<char> t, int i)
    {
        char c = t[i];
        if (c == '\'' && i + 1 < t.Length)
        {
            int n = Contraction(t, i + 1);
            if (n > 0) return i + 1 + n;
        }
        var cls = Classify(t, i, out int len);
        int next = i + len;
        var nextCls = next < t.Length ? Classify(t, next, out _) : (Cls)255;

        // letters, with an optional one-character prefix
        if (_llama ? (cls != Cls.Letter && cls != Cls.Number && !IsNewline(c) && nextCls == Cls.Letter) : (c == ' ' && nextCls == Cls.Letter))
            return RunEnd(t, next, Cls.Letter);
        if (cls == Cls.Letter) return RunEnd(t, next, Cls.Letter);

        // numbers
        if (_maxDigits == 0)
        {
            if (c == ' ' && nextCls == Cls.Number) return RunEnd(t, next, Cls.Number);
            if (cls == Cls.Number) return RunEnd(t, next, Cls.Number);
        }
        else if (cls == Cls.Number)
        {
            int end = next;
            for (int k = 1; k < _maxDigits && end < t.Length && Classify(t, end, out int l) == Cls.Number; k++) end += l;
            return end;
        }

        // punctuation and symbols, with an optional leading space (and trailing newlines for llama)
        int p = -1;
        if (c == ' ' && nextCls == Cls.Other) p = RunEnd(t, next, Cls.Other);
        else if (cls == Cls.Other) p = RunEnd(t, next, Cls.Other);
        if (p >= 0)
        {
            if (_llama) while (p < t.Length && IsNewline(t[p])) p++;
            return p;
        }

        // whitespace (cls == Space here)
        int w = RunEnd(t, i, Cls.Space);
        if (_llama)
        {
            int lastNewline = -1;
            for (int k = i; k < w; k++) if (IsNewline(t[k])) lastNewline = k;
            if (lastNewline >= 0) return lastNewline + 1;
        }
        if (w == t.Length) return w;
        // \s+(?!\S) gives back one whitespace character; \s+ takes the single one
        return w - 1 > i ? w - 1 : w;
    }

    /// <summary>Length of the contraction after an apostrophe ('s 't 're 've 'm 'll 'd), or 0.</summary>
    int Contraction(ReadOnlySpan<char> t, int i)
    {
        char a = Fold(t[i]);
        char b = i + 1 < t.Length ? Fold(t[i + 1]) : '\0';
        switch (a)
        {
            case 's': case 't': case 'm': case 'd': return 1;
            case 'r': case 'v': return b == 'e' ? 2 : 0;
            case 'l': return b == 'l' ? 2 : 0;
            default: return 0;
        }
    }

    // Oniguruma's case folding maps 'ſ' (U+017F) to 's' too.
    char Fold(char c) => !_llama ? c : c == '\u017F' ? 's' : c is >= 'A' and <= 'Z' ? (char)(c | 0x20) : c;
}
