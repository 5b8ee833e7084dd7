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
/// the GPT-2 and Llama-3 patterns run through hand-written matchers with llama.cpp's exact edge behaviour.
/// </summary>
public sealed class LlamaCppPreTokenizer
{
    /// <summary>The GPT-2 pattern, which llama.cpp matches by hand.</summary>
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    /// <summary>The Llama-3 pattern (contractions spelled case-insensitively), which llama.cpp matches by hand.</summary>
    internal const string Llama3Pattern =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

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
        char[]? collapsed = null;
        var scratch = Scratch.Get();
        try
        {
            int n = LlamaCppUnicode.Decode(text, cps, starts);
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
                var ctx = new Context(cps.AsSpan(0, n), collapsed, scratch);
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
            if (collapsed != null) ArrayPool<char>.Shared.Return(collapsed);
        }
    }

    /// <summary>A run of code points [Start, Start + Length).</summary>
    internal readonly record struct Piece(int Start, int Length);

    internal readonly ref struct Context(ReadOnlySpan<int> cps, char[]? collapsed, Scratch scratch)
    {
        public readonly ReadOnlySpan<int> Cps = cps;
        public readonly char[]? Collapsed = collapsed;
        public readonly Scratch Scratch = scratch;
    }

    /// <summary>Per-thread buffers so that splitting allocates nothing once warm.</summary>
    internal sealed class Scratch
    {
        [ThreadStatic] static Scratch? current;
        public static Scratch Get() => current ??= new Scratch();
        public readonly List<Piece> A = new(), B = new();
        public char[] Wide = new char[64];
        public int[] WideToCp = new int[65];
    }

    internal abstract class Step
    {
        static readonly ConcurrentDictionary<string, Step> Cache = new();

        public abstract void Split(in Context ctx, Piece piece, List<Piece> output);

        public static Step For(string pattern) => Cache.GetOrAdd(pattern, p => p switch
        {
            Gpt2Pattern => new Gpt2Step(),
            Llama3Pattern => new Llama3Step(),
            AfmoeDigits => new AfmoeDigitsStep(),
            _ => new RegexStep(p),
        });
    }

    /// <summary>One piece of the code points; positions outside it read as -1 / no class (llama.cpp's OUT_OF_RANGE).</summary>
    readonly ref struct Window(ReadOnlySpan<int> cps, Piece piece)
    {
        readonly ReadOnlySpan<int> cps = cps;
        readonly int ini = piece.Start, end = piece.Start + piece.Length;
        public int Cpt(int p) => p >= ini && p < end ? cps[p] : -1;
        public CodepointClass Cls(int p) => p >= ini && p < end ? LlamaCppUnicode.Classify(cps[p]) : CodepointClass.None;
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

    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    sealed class Gpt2Step : Step
    {
        public override void Split(in Context ctx, Piece piece, List<Piece> output)
        {
            var r = new Window(ctx.Cps, piece);
            int ini = piece.Start, end = piece.Start + piece.Length;
            const CodepointClass wln = CodepointClass.Whitespace | CodepointClass.Letter | CodepointClass.Number;

            var emit = new Emitter(output, ini);
            for (int pos = ini; pos < end;)
            {
                int cpt = r.Cpt(pos);
                var cls = r.Cls(pos);
                if (cpt == '\'' && pos + 1 < end)
                {
                    int next = r.Cpt(pos + 1);
                    if (next is 's' or 't' or 'm' or 'd') { pos += emit.Add(pos + 2); continue; }
                    if (pos + 2 < end)
                    {
                        int next2 = r.Cpt(pos + 2);
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                        {
                            pos += emit.Add(pos + 3);
                            continue;
                        }
                    }
                }
                var cls2 = cpt == ' ' ? r.Cls(pos + 1) : cls;
                if ((cls2 & CodepointClass.Letter) != 0)
                {
                    if (cpt == ' ') pos++;
                    while ((cls2 & CodepointClass.Letter) != 0) cls2 = r.Cls(++pos);
                    emit.Add(pos);
                    continue;
                }
                if ((cls2 & CodepointClass.Number) != 0)
                {
                    if (cpt == ' ') pos++;
                    while ((cls2 & CodepointClass.Number) != 0) cls2 = r.Cls(++pos);
                    emit.Add(pos);
                    continue;
                }
                if ((cls2 & wln) == 0 && cls2 != CodepointClass.None)
                {
                    if (cpt == ' ') pos++;
                    while ((cls2 & wln) == 0 && cls2 != CodepointClass.None) cls2 = r.Cls(++pos);
                    emit.Add(pos);
                    continue;
                }
                int spaces = 0;
                while ((r.Cls(pos + spaces) & CodepointClass.Whitespace) != 0) spaces++;
                if (spaces > 1 && r.Cpt(pos + spaces) != -1)
                {
                    pos += spaces - 1;
                    emit.Add(pos);
                    continue;
                }
                if (spaces > 0)
                {
                    pos += spaces;
                    emit.Add(pos);
                    continue;
                }
                emit.Add(++pos);
            }
        }
    }

    // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    sealed class Llama3Step : Step
    {
        public override void Split(in Context ctx, Piece piece, List<Piece> output)
        {
            var r = new Window(ctx.Cps, piece);
            int ini = piece.Start, end = piece.Start + piece.Length;
            static int Lower(int c) => c is >= 'A' and <= 'Z' ? c + 32 : c;
            const CodepointClass wln = CodepointClass.Whitespace | CodepointClass.Letter | CodepointClass.Number;

            var emit = new Emitter(output, ini);
            for (int pos = ini; pos < end;)
            {
                int cpt = r.Cpt(pos);
                var cls = r.Cls(pos);
                if (cpt == '\'' && pos + 1 < end)
                {
                    int next = Lower(r.Cpt(pos + 1));
                    if (next is 's' or 't' or 'm' or 'd') { pos += emit.Add(pos + 2); continue; }
                    if (pos + 2 < end)
                    {
                        int next2 = Lower(r.Cpt(pos + 2));
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                        {
                            pos += emit.Add(pos + 3);
                            continue;
                        }
                    }
                }
                if (!(cpt == '\r' || cpt == '\n' || (cls & CodepointClass.Number) != 0)
                    && ((cls & CodepointClass.Letter) != 0 || (r.Cls(pos + 1) & CodepointClass.Letter) != 0))
                {
                    pos++;
                    while ((r.Cls(pos) & CodepointClass.Letter) != 0) pos++;
                    emit.Add(pos);
                    continue;
                }
                if ((cls & CodepointClass.Number) != 0)
                {
                    int first = pos;
                    while ((r.Cls(pos) & CodepointClass.Number) != 0)
                    {
                        if (++pos - first >= 3)
                        {
                            emit.Add(pos);
                            first = pos;
                        }
                    }
                    emit.Add(pos);
                    continue;
                }
                var cls2 = cpt == ' ' ? r.Cls(pos + 1) : cls;
                // llama.cpp tests the current code point's flags here, not those after the optional space.
                if ((cls2 & wln) == 0 && cls != CodepointClass.None)
                {
                    if (cpt == ' ') pos++;
                    while ((cls2 & wln) == 0 && cls2 != CodepointClass.None) cls2 = r.Cls(++pos);
                    while (r.Cpt(pos) is '\r' or '\n') pos++;
                    emit.Add(pos);
                    continue;
                }
                int spaces = 0, lastNewlineEnd = 0;
                while ((r.Cls(pos + spaces) & CodepointClass.Whitespace) != 0)
                {
                    if (r.Cpt(pos + spaces) is '\r' or '\n') lastNewlineEnd = pos + spaces + 1;
                    spaces++;
                }
                if (lastNewlineEnd > 0)
                {
                    pos = lastNewlineEnd;
                    emit.Add(pos);
                    continue;
                }
                if (spaces > 1 && r.Cpt(pos + spaces) != -1)
                {
                    pos += spaces - 1;
                    emit.Add(pos);
                    continue;
                }
                if (spaces > 0)
                {
                    pos += spaces;
                    emit.Add(pos);
                    continue;
                }
                emit.Add(++pos);
            }
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
            regex = new Regex(dotnet, RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture | RegexOptions.Compiled);
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
