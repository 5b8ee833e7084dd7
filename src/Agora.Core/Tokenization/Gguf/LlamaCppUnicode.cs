using System.Globalization;
using System.Text;

namespace Agora.Tokenization.Gguf;

/// <summary>
/// The code point classes llama.cpp's splitter works with (its unicode_cpt_flags): one general category class per
/// code point plus the Unicode White_Space property. Every code point in range has a non-zero value, so 0 can stand
/// for "outside the current piece" exactly as llama.cpp's empty flags do.
/// </summary>
[Flags]
internal enum CodepointClass : byte
{
    None = 0,
    Number = 1,       // \p{N}
    Letter = 2,       // \p{L}
    Punctuation = 4,  // \p{P}
    Symbol = 8,       // \p{S}
    Mark = 16,        // \p{M}
    Other = 32,       // control, format, separator, private use, unassigned
    Whitespace = 64,  // White_Space property (\s)
}

internal static class LlamaCppUnicode
{
    static readonly CodepointClass[] Bmp = BuildBmp();

    public static CodepointClass Classify(int cp) =>
        (uint)cp < 0x10000 ? Bmp[cp] : (uint)cp <= 0x10FFFF ? FromCategory(cp) : CodepointClass.Other;

    static CodepointClass[] BuildBmp()
    {
        var table = new CodepointClass[0x10000];
        for (int cp = 0; cp < table.Length; cp++) table[cp] = FromCategory(cp);
        return table;
    }

    static CodepointClass FromCategory(int cp)
    {
        var c = CharUnicodeInfo.GetUnicodeCategory(cp) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointClass.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CodepointClass.Number,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CodepointClass.Mark,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CodepointClass.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => CodepointClass.Symbol,
            _ => CodepointClass.Other,
        };
        return IsWhiteSpaceProperty(cp) ? c | CodepointClass.Whitespace : c;
    }

    // The Unicode White_Space property (PropList.txt), which is llama.cpp's whitespace set.
    static bool IsWhiteSpaceProperty(int cp) =>
        cp is >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or >= 0x2000 and <= 0x200A
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary>
    /// The one-character stand-in llama.cpp's "collapsed" text uses so that std::regex can test categories: ASCII stays
    /// itself, other whitespace becomes \v, anything else the marker of its category (0xD0 when it has none).
    /// </summary>
    public static char Collapse(int cp)
    {
        if (cp < 0x80) return (char)cp;
        var c = Classify(cp);
        if ((c & CodepointClass.Whitespace) != 0) return '\v';
        return c switch
        {
            CodepointClass.Number => CollapsedNumber,
            CodepointClass.Letter => CollapsedLetter,
            CodepointClass.Punctuation => CollapsedPunctuation,
            CodepointClass.Mark => CollapsedMark,
            CodepointClass.Symbol => CollapsedSymbol,
            _ => CollapsedOther,
        };
    }

    public const char CollapsedOther = '\u00D0', CollapsedNumber = '\u00D1', CollapsedLetter = '\u00D2',
        CollapsedPunctuation = '\u00D3', CollapsedMark = '\u00D4', CollapsedSymbol = '\u00D5';

    /// <summary>
    /// Decodes UTF-16 into code points; <paramref name="starts"/>[i] is the UTF-16 index where code point i begins and
    /// starts[count] the text length. A lone surrogate becomes U+FFFD, as invalid UTF-8 does in llama.cpp.
    /// </summary>
    public static int Decode(ReadOnlySpan<char> text, Span<int> cps, Span<int> starts)
    {
        int n = 0, i = 0;
        while (i < text.Length)
        {
            starts[n] = i;
            if (Rune.DecodeFromUtf16(text[i..], out var rune, out int used) == System.Buffers.OperationStatus.Done)
                cps[n] = rune.Value;
            else
                cps[n] = 0xFFFD;
            i += Math.Max(used, 1);
            n++;
        }
        starts[n] = text.Length;
        return n;
    }
}
