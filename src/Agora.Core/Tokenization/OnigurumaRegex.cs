using System.Text;
using System.Text.RegularExpressions;

namespace Agora.Tokenization;

/// <summary>
/// Turns an Oniguruma pattern (what Hugging Face tokenizers use) into an equivalent .NET <see cref="Regex"/>.
/// The syntax differs mainly in possessive quantifiers (<c>x++</c>, <c>x*+</c>, <c>x?+</c>), which .NET spells as
/// atomic groups. \s, \p{L}, \p{N}, lookarounds and <c>(?i:…)</c> mean the same in both, with one caveat: .NET
/// matches UTF-16 code units, so a letter outside the BMP is not \p{L} here. The hot GPT-2/llama3/qwen2 patterns
/// never reach this class (see <see cref="Gpt2Splitter"/>), which works on code points.
/// </summary>
static class OnigurumaRegex
{
    /// <summary>
    /// Longest one match may run. A pattern from a file can backtrack catastrophically; the tokenizer turns the
    /// timeout into a format error naming its file rather than hanging.
    /// </summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(2);

    public static Regex Create(string pattern) =>
        new(Translate(pattern), RegexOptions.CultureInvariant | RegexOptions.Compiled, MatchTimeout);

    /// <summary>The error a pattern that ran past <see cref="MatchTimeout"/> becomes.</summary>
    public static AgoraFormatException TooSlow(string source, RegexMatchTimeoutException e) =>
        new(source, $"the pattern /{e.Pattern}/ ran longer than {MatchTimeout.TotalSeconds:0} s on this text (catastrophic backtracking); the tokenizer cannot be used on it", inner: e);

    public static string Translate(string p)
    {
        var sb = new StringBuilder(p.Length + 8);
        var groups = new Stack<int>();
        int lastAtom = -1;
        for (int i = 0; i < p.Length;)
        {
            char c = p[i];
            int atom = sb.Length;
            if (c == '\\' && i + 1 < p.Length)
            {
                int end = i + 2;
                if ("pPx".Contains(p[i + 1]) && end < p.Length && p[end] == '{')
                    end = Math.Max(p.IndexOf('}', end) + 1, end);
                sb.Append(p, i, end - i); i = end; lastAtom = atom;
            }
            else if (c == '[')
            {
                i = AppendClass(p, i, sb);
                lastAtom = atom;
            }
            else if (c == '(')
            {
                groups.Push(sb.Length);
                sb.Append(c); i++;
                if (i < p.Length && p[i] == '?')
                {
                    while (i < p.Length && ":=!>)".IndexOf(p[i]) < 0) sb.Append(p[i++]);
                    if (i < p.Length && p[i] != ')') sb.Append(p[i++]);
                }
            }
            else if (c == ')')
            {
                sb.Append(c); i++;
                lastAtom = groups.Count > 0 ? groups.Pop() : -1;
            }
            else if (c is '*' or '+' or '?' or '{')
            {
                int end = c == '{' ? Math.Max(p.IndexOf('}', i) + 1, i + 1) : i + 1;
                sb.Append(p, i, end - i); i = end;
                if (i < p.Length && p[i] == '+' && lastAtom >= 0)
                {
                    sb.Insert(lastAtom, "(?>").Append(')');
                    i++;
                }
                else if (i < p.Length && p[i] == '?') sb.Append(p[i++]);
                lastAtom = -1;
            }
            else { sb.Append(c); i++; lastAtom = atom; }
        }
        return sb.ToString();
    }

    /// <summary>
    /// Copies the character class opening at <paramref name="start"/> and returns the index after it. Oniguruma nests
    /// classes (BLOOM's <c>[^(\s|[.,!?…])]</c>); .NET reads an inner '[' as a literal, so an inner class is
    /// flattened into its parent, which is the same set since inner classes are unions.
    /// </summary>
    static int AppendClass(string p, int start, StringBuilder sb)
    {
        int depth = 0, i = start;
        while (i < p.Length)
        {
            char c = p[i];
            if (c == '\\' && i + 1 < p.Length)
            {
                sb.Append(p, i, 2);
                i += 2;
                continue;
            }
            if (c == '[')
            {
                depth++;
                if (depth == 1) sb.Append(c);
                else if (i + 1 < p.Length && p[i + 1] == '^')
                    throw new ArgumentException($"the pattern /{p}/ nests a negated class, which has no .NET equivalent");
                i++;
                if (i < p.Length && p[i] == '^' && depth == 1) sb.Append(p[i++]);
                // A ']' first in a class is a literal.
                if (i < p.Length && p[i] == ']') { sb.Append(@"\]"); i++; }
                continue;
            }
            if (c == ']')
            {
                i++;
                if (--depth == 0) { sb.Append(c); return i; }
                continue;
            }
            sb.Append(c);
            i++;
        }
        return i;
    }
}
