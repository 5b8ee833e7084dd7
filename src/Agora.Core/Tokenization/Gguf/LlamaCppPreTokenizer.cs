using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace Agora.Tokenization.Gguf;

/// <summary>
/// Splits text into words the way llama.cpp's unicode_regex_split does for one <c>tokenizer.ggml.pre</c> value: the
/// patterns run in order, each splitting every piece left by the previous one into its matches and the gaps between
/// them. Patterns that use Unicode categories run on llama.cpp's "collapsed" text (one stand-in character per code
/// point, see <see cref="LlamaCppUnicode.Collapse"/>), so \p{Lu} means any letter there just as it does in llama.cpp;
/// the GPT-2, Llama-3 and Qwen2 patterns run through the core's hand-written matcher.
/// </summary>
public sealed class LlamaCppPreTokenizer
{
    /// <summary>The GPT-2 pattern as llama.cpp lists it.</summary>
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    const string Contractions = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

    /// <summary>The Llama-3 pattern as llama.cpp lists it (contractions spelled out case by case).</summary>
    internal const string Llama3Pattern =
        Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The Qwen2 pattern as llama.cpp lists it.</summary>
    internal const string Qwen2Pattern =
        Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>A marker pattern for AFMoE's digit grouping, which llama.cpp implements in code.</summary>
    internal const string AfmoeDigits = @"\p{AFMoE_digits}";

    readonly Step[] steps;

    /// <summary>The patterns, in the order they apply.</summary>
    public IReadOnlyList<string> Patterns { get; }

    public LlamaCppPreTokenizer(IReadOnlyList<string> patterns)
    {
        Patterns = patterns.ToArray();
        steps = Patterns.Select(Step.For).ToArray();
    }

    /// <summary>
    /// Appends the words of <paramref name="text"/> to <paramref name="words"/> as ranges of <paramref name="text"/>,
    /// in order; together they cover the text exactly.
    /// </summary>
    public void Split(ReadOnlySpan<char> text, List<Range> words)
    {
        if (text.IsEmpty) return;
        int[] cps = ArrayPool<int>.Shared.Rent(text.Length);
        int[] starts = ArrayPool<int>.Shared.Rent(text.Length + 1);
        int[] cpAt = ArrayPool<int>.Shared.Rent(text.Length + 1);
        char[]? collapsed = null;
        var scratch = Scratch.Get();
        try
        {
            int n = LlamaCppUnicode.Decode(text, cps, starts);
            for (int i = 0; i < n; i++)
                for (int u = starts[i]; u < starts[i + 1]; u++) cpAt[u] = i;
            cpAt[text.Length] = n;
            var cur = scratch.A;
            var next = scratch.B;
            cur.Clear();
            cur.Add(new Piece(0, n));
            foreach (var step in steps)
            {
                if (step is RegexStep { Collapsed: true } && collapsed == null)
                {
                    collapsed = ArrayPool<char>.Shared.Rent(n);
                    for (int i = 0; i < n; i++) collapsed[i] = LlamaCppUnicode.Collapse(cps[i]);
                }
                next.Clear();
                var ctx = new Context(text, cps.AsSpan(0, n), starts, cpAt, collapsed, scratch);
                foreach (var piece in cur) step.Split(ctx, piece, next);
                (cur, next) = (next, cur);
            }
            foreach (var p in cur)
                if (p.Length > 0) words.Add(new Range(starts[p.Start], starts[p.Start + p.Length]));
        }
        finally
        {
            ArrayPool<int>.Shared.Return(cps);
            ArrayPool<int>.Shared.Return(starts);
            ArrayPool<int>.Shared.Return(cpAt);
            if (collapsed != null) ArrayPool<char>.Shared.Return(collapsed);
        }
    }

    /// <summary>A run of code points [Start, Start + Length).</summary>
    internal readonly record struct Piece(int Start, int Length);

    internal readonly ref struct Context(ReadOnlySpan<char> text, ReadOnlySpan<int> cps, int[] starts, int[] cpAt, char[]? collapsed, Scratch scratch)
    {
        public readonly ReadOnlySpan<char> Text = text;
        public readonly ReadOnlySpan<int> Cps = cps;
        /// <summary>UTF-16 index where each code point starts (and the text length after the last).</summary>
        public readonly int[] Starts = starts;
        /// <summary>Code point index of each UTF-16 index (and the count at the text length).</summary>
        public readonly int[] CpAt = cpAt;
        public readonly char[]? Collapsed = collapsed;
        public readonly Scratch Scratch = scratch;
    }

    /// <summary>Per-thread buffers so that splitting allocates nothing once warm.</summary>
    internal sealed class Scratch
    {
        [ThreadStatic] static Scratch? current;
        public static Scratch Get() => current ??= new Scratch();
        public readonly List<Piece> A = new(), B = new();
        public readonly List<(int Start, int Length)> Found = new();
        public char[] Wide = new char[64];
        public int[] WideToCp = new int[65];
    }

    internal abstract class Step
    {
        static readonly ConcurrentDictionary<string, Step> Cache = new();

        public abstract void Split(in Context ctx, Piece piece, List<Piece> output);

        public static Step For(string pattern) => Cache.GetOrAdd(pattern, p => p switch
        {
            Gpt2Pattern => new MatcherStep(Gpt2Splitter.Gpt2),
            Llama3Pattern => new MatcherStep(Gpt2Splitter.Llama3),
            Qwen2Pattern => new MatcherStep(Gpt2Splitter.Qwen2),
            AfmoeDigits => new AfmoeDigitsStep(),
            _ => new RegexStep(p),
        });
    }

    /// <summary>Emits pieces ending at given positions, skipping empty ones (llama.cpp's _add_token).</summary>
    struct Emitter(List<Piece> output, int start)
    {
        int prevEnd = start;

        public int Add(int end)
        {
            int len = end - prevEnd;
            if (len > 0) output.Add(new Piece(prevEnd, len));
            prevEnd = end;
            return len;
        }
    }

    /// <summary>
    /// The GPT-2, Llama-3 and Qwen2 patterns: llama.cpp matches the first two by hand and the third with std::regex,
    /// all with the regex's meaning, which is what the core's hand-written <see cref="Gpt2Splitter"/> gives.
    /// </summary>
    sealed class MatcherStep(IMatcher matcher) : Step
    {
        public override void Split(in Context ctx, Piece piece, List<Piece> output)
        {
            int from = ctx.Starts[piece.Start], to = ctx.Starts[piece.Start + piece.Length];
            var found = ctx.Scratch.Found;
            found.Clear();
            matcher.Matches(ctx.Text[from..to], found);
            var emit = new Emitter(output, piece.Start);
            foreach (var (start, length) in found)
            {
                emit.Add(ctx.CpAt[from + start]);
                emit.Add(ctx.CpAt[from + start + length]);
            }
            emit.Add(piece.Start + piece.Length);
        }
    }

    // Digit runs split so that the first group takes length % 3 digits and the rest go in threes; other text stays.
    sealed class AfmoeDigitsStep : Step
    {
        public override void Split(in Context ctx, Piece piece, List<Piece> output)
        {
            var cps = ctx.Cps;
            int end = piece.Start + piece.Length;
            var emit = new Emitter(output, piece.Start);
            for (int pos = piece.Start; pos < end;)
            {
                if ((LlamaCppUnicode.Classify(cps[pos]) & CodepointClass.Number) == 0) { pos++; continue; }
                int first = pos;
                while (pos < end && (LlamaCppUnicode.Classify(cps[pos]) & CodepointClass.Number) != 0) pos++;
                int cur = first + (pos - first) % 3;
                if (cur > first) emit.Add(cur);
                for (; cur < pos; cur += 3) emit.Add(cur + 3);
            }
            emit.Add(end);
        }
    }

    /// <summary>A pattern run by the regex engine, on the collapsed text when it names a category.</summary>
    sealed class RegexStep : Step
    {
        readonly Regex regex;
        public bool Collapsed { get; }

        public RegexStep(string pattern)
        {
            Collapsed = CategoryNames.Any(c => pattern.Contains(c, StringComparison.Ordinal));
            var dotnet = Collapsed ? CollapsePattern(pattern) : pattern;
            regex = new Regex(dotnet, RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture | RegexOptions.Compiled, OnigurumaRegex.MatchTimeout);
        }

        public override void Split(in Context ctx, Piece piece, List<Piece> output)
        {
            if (Collapsed)
            {
                var text = ctx.Collapsed.AsSpan(piece.Start, piece.Length);
                var emit = new Emitter(output, piece.Start);
                foreach (var m in regex.EnumerateMatches(text))
                {
                    emit.Add(piece.Start + m.Index);
                    emit.Add(piece.Start + m.Index + m.Length);
                }
                emit.Add(piece.Start + piece.Length);
                return;
            }

            // Code points as UTF-16, with non-ASCII whitespace turned into \v as llama.cpp does for std::wregex.
            var s = ctx.Scratch;
            if (s.Wide.Length < piece.Length * 2) s.Wide = new char[piece.Length * 2];
            if (s.WideToCp.Length < piece.Length * 2 + 1) s.WideToCp = new int[piece.Length * 2 + 1];
            int w = 0;
            for (int i = piece.Start; i < piece.Start + piece.Length; i++)
            {
                int cp = ctx.Cps[i];
                if (cp > 0x7F && (LlamaCppUnicode.Classify(cp) & CodepointClass.Whitespace) != 0) cp = '\v';
                s.WideToCp[w] = i;
                if (cp < 0x10000) s.Wide[w++] = (char)cp;
                else
                {
                    new Rune(cp).EncodeToUtf16(s.Wide.AsSpan(w));
                    s.WideToCp[w + 1] = i;
                    w += 2;
                }
            }
            s.WideToCp[w] = piece.Start + piece.Length;
            var wideEmit = new Emitter(output, piece.Start);
            foreach (var m in regex.EnumerateMatches(s.Wide.AsSpan(0, w)))
            {
                wideEmit.Add(s.WideToCp[m.Index]);
                wideEmit.Add(s.WideToCp[m.Index + m.Length]);
            }
            wideEmit.Add(piece.Start + piece.Length);
        }

        static readonly string[] CategoryNames = [@"\p{N}", @"\p{L}", @"\p{P}", @"\p{M}", @"\p{S}", @"\p{Lu}", @"\p{Ll}", @"\p{Lt}", @"\p{Lm}", @"\p{Lo}"];

        /// <summary>
        /// llama.cpp's rewrite of a category pattern for the collapsed text: each \p{X} becomes the category's
        /// stand-in plus its ASCII members, wrapped in brackets unless already inside a class. The letter
        /// subcategories all mean "any letter" there.
        /// </summary>
        static string CollapsePattern(string pattern)
        {
            var sb = new StringBuilder();
            bool inside = false;
            for (int i = 0; i < pattern.Length; i++)
            {
                char c = pattern[i];
                if (c == '[' && (i == 0 || pattern[i - 1] != '\\')) { sb.Append('['); inside = true; continue; }
                if (inside && c == ']' && pattern[i - 1] != '\\') { sb.Append(']'); inside = false; continue; }
                if (c == '\\' && i + 3 < pattern.Length && pattern[i + 1] == 'p' && pattern[i + 2] == '{')
                {
                    int close = pattern.IndexOf('}', i + 3);
                    string? members = close < 0 ? null : pattern[i..(close + 1)] switch
                    {
                        @"\p{N}" => LlamaCppUnicode.CollapsedNumber + "0-9",
                        @"\p{L}" or @"\p{Lu}" or @"\p{Ll}" or @"\p{Lt}" or @"\p{Lm}" or @"\p{Lo}" => LlamaCppUnicode.CollapsedLetter + "A-Za-z",
                        @"\p{P}" => LlamaCppUnicode.CollapsedPunctuation + @"!-#%-*,-/:-;?-@\[-\]_\{\}",
                        @"\p{M}" => LlamaCppUnicode.CollapsedMark.ToString(),
                        @"\p{S}" => LlamaCppUnicode.CollapsedSymbol + @"\$\+<->\^`\|",
                        _ => null,
                    };
                    if (members != null)
                    {
                        sb.Append(inside ? members : "[" + members + "]");
                        i = close;
                        continue;
                    }
                }
                sb.Append(c);
            }
            return sb.ToString();
        }
    }
}
