using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Agora.Tokenization;

/// <summary>A text → text rewrite applied to each stretch of input between added tokens (Hugging Face "normalizer").</summary>
abstract class Normalizer
{
    public abstract string Normalize(string text);
}

sealed class UnicodeNormalizer(NormalizationForm form) : Normalizer
{
    public override string Normalize(string text) => UnicodeNormalization.Normalize(text, form);
}

sealed class LowercaseNormalizer : Normalizer
{
    public override string Normalize(string text) => text.ToLowerInvariant();
}

sealed class StripNormalizer(bool left, bool right) : Normalizer
{
    public override string Normalize(string text) => left && right ? text.Trim() : left ? text.TrimStart() : right ? text.TrimEnd() : text;
}

/// <summary>Removes combining marks (category Mn), as Hugging Face's StripAccents does after an NFD normalizer.</summary>
sealed class StripAccentsNormalizer : Normalizer
{
    public override string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var r in text.EnumerateRunes())
            if (Rune.GetUnicodeCategory(r) != UnicodeCategory.NonSpacingMark) sb.Append(r.ToString());
        return sb.ToString();
    }
}

sealed class ReplaceNormalizer(TextPattern pattern, string content) : Normalizer
{
    public override string Normalize(string text) => pattern.Replace(text, content);
}

/// <summary>Prepends a string to non-empty text (SentencePiece's leading '▁').</summary>
sealed class PrependNormalizer(string prefix) : Normalizer
{
    public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
}

sealed class SequenceNormalizer(IReadOnlyList<Normalizer> steps) : Normalizer
{
    public override string Normalize(string text)
    {
        for (int i = 0; i < steps.Count; i++) text = steps[i].Normalize(text);
        return text;
    }
}

/// <summary>A literal string or a regular expression, as Hugging Face's <c>{"String": ...}</c> / <c>{"Regex": ...}</c>.</summary>
sealed class TextPattern
{
    readonly string? _literal;
    readonly Regex? _regex;

    TextPattern(string? literal, Regex? regex) { _literal = literal; _regex = regex; }

    public static TextPattern Literal(string s) => new(s, null);
    public static TextPattern FromRegex(string oniguruma) => new(null, OnigurumaRegex.Create(oniguruma));

    public string Replace(string text, string content) =>
        _literal != null ? (_literal.Length == 0 ? text : text.Replace(_literal, content, StringComparison.Ordinal)) : _regex!.Replace(text, content.Replace("$", "$$"));

    /// <summary>Appends the (start, length) of each non-overlapping match in <paramref name="text"/>.</summary>
    public void Matches(ReadOnlySpan<char> text, List<(int Start, int Length)> found)
    {
        if (_literal != null)
        {
            if (_literal.Length == 0) return;
            int at = 0;
            while (at <= text.Length - _literal.Length)
            {
                int i = text[at..].IndexOf(_literal.AsSpan(), StringComparison.Ordinal);
                if (i < 0) break;
                found.Add((at + i, _literal.Length));
                at += i + _literal.Length;
            }
            return;
        }
        foreach (var m in _regex!.EnumerateMatches(text))
            if (m.Length > 0) found.Add((m.Index, m.Length));
    }
}
