using System.Globalization;
using System.Numerics;
using System.Text;

namespace Agora.Templates;

internal enum TokenKind { Data, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, Eof }

internal readonly record struct Token(TokenKind Kind, string Text, object? Literal, int Line)
{
    public bool Is(TokenKind kind, string text) => Kind == kind && Text == text;
    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;
    public bool IsOp(string op) => Kind == TokenKind.Operator && Text == op;

    public string Describe() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableBegin => "begin of print statement",
        TokenKind.BlockBegin => "begin of statement block",
        TokenKind.Data => "template data / text",
        _ => Text,
    };
}

/// <summary>
/// Splits template source into tokens the way Jinja2's lexer does under transformers' settings:
/// trim_blocks (a newline after a block or comment tag is dropped), lstrip_blocks (spaces and tabs before a block or
/// comment tag at the start of a line are dropped), '-' and '+' whitespace control, raw blocks, one trailing newline
/// of the source dropped.
/// </summary>
internal sealed class TemplateLexer
{
    static readonly string[] Operators =
        ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"];

    readonly string src;
    readonly string origin;
    readonly List<Token> tokens = new();
    readonly int[] lineStarts;
    int pos;
    bool lineStarting = true;

    TemplateLexer(string source, string origin)
    {
        this.origin = origin;
        src = NormalizeNewlines(source);
        var starts = new List<int> { 0 };
        for (var i = 0; i < src.Length; i++) if (src[i] == '\n') starts.Add(i + 1);
        lineStarts = starts.ToArray();
    }

    public static List<Token> Tokenize(string source, string origin)
    {
        var lexer = new TemplateLexer(source, origin);
        lexer.Run();
        return lexer.tokens;
    }

    static string NormalizeNewlines(string s)
    {
        s = s.Replace("\r\n", "\n").Replace('\r', '\n');
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    int LineAt(int position)
    {
        var i = Array.BinarySearch(lineStarts, position);
        return (i >= 0 ? i : ~i - 1) + 1;
    }

    TemplateException Fail(string message, int position) => TemplateException.Syntax(message, origin, LineAt(position));

    void Emit(TokenKind kind, string text, object? literal, int position) => tokens.Add(new Token(kind, text, literal, LineAt(position)));

    void Run()
    {
        while (pos < src.Length)
        {
            var tag = FindTagStart(pos);
            if (tag < 0)
            {
                Emit(TokenKind.Data, src[pos..], null, pos);
                break;
            }
            var kind = src[tag + 1];
            var sign = tag + 2 < src.Length && src[tag + 2] is '-' or '+' ? src[tag + 2] : '\0';
            var rawEnd = kind == '%' ? MatchRawBegin(tag) : -1;
            var text = ApplyStrip(src[pos..tag], sign, isVariable: kind == '{');
            if (text.Length > 0) Emit(TokenKind.Data, text, null, pos);
            var afterOpen = tag + 2 + (sign == '\0' ? 0 : 1);
            if (rawEnd >= 0) LexRaw(rawEnd);
            else if (kind == '#') LexComment(afterOpen);
            else LexTag(tag, afterOpen, kind == '{');
        }
        tokens.Add(new Token(TokenKind.Eof, "", null, LineAt(src.Length)));
    }

    int FindTagStart(int from)
    {
        for (var i = src.IndexOf('{', from); i >= 0 && i + 1 < src.Length; i = src.IndexOf('{', i + 1))
            if (src[i + 1] is '%' or '{' or '#') return i;
        return -1;
    }

    // The text before a tag: '-' strips all trailing whitespace; otherwise lstrip_blocks drops the spaces between the
    // last line start and a block/comment tag when nothing else is on that line.
    string ApplyStrip(string text, char sign, bool isVariable)
    {
        if (sign == '-') return Py.Strip(text, null, left: false, right: true);
        if (sign == '+' || isVariable) return text;
        var lineStart = text.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !lineStarting) return text;
        if (lineStart == text.Length) return text;
        for (var i = lineStart; i < text.Length; i++) if (!Py.IsSpace(text[i])) return text;
        return text[..lineStart];
    }

    // {%[-+]? \s* raw \s* (-%}\s* | %}) — returns the end of the match or -1.
    int MatchRawBegin(int tag)
    {
        var i = tag + 2;
        if (i < src.Length && src[i] is '-' or '+') i++;
        while (i < src.Length && Py.IsSpace(src[i])) i++;
        if (string.CompareOrdinal(src, i, "raw", 0, 3) != 0) return -1;
        i += 3;
        while (i < src.Length && Py.IsSpace(src[i])) i++;
        if (string.CompareOrdinal(src, i, "-%}", 0, 3) == 0) return SkipSpace(i + 3);
        if (string.CompareOrdinal(src, i, "%}", 0, 2) == 0) return i + 2;
        return -1;
    }

    int SkipSpace(int i)
    {
        while (i < src.Length && Py.IsSpace(src[i])) i++;
        return i;
    }

    void LexRaw(int bodyStart)
    {
        lineStarting = src[bodyStart - 1] == '\n';
        for (var i = src.IndexOf("{%", bodyStart, StringComparison.Ordinal); i >= 0; i = src.IndexOf("{%", i + 1, StringComparison.Ordinal))
        {
            var j = i + 2;
            var sign = j < src.Length && src[j] is '-' or '+' ? src[j] : '\0';
            if (sign != '\0') j++;
            j = SkipSpace(j);
            if (string.CompareOrdinal(src, j, "endraw", 0, 6) != 0) continue;
            j = SkipSpace(j + 6);
            var end = MatchTagEnd(j, "%}", trim: true, allowPlus: true);
            if (end < 0) continue;
            var text = ApplyStrip(src[bodyStart..i], sign, isVariable: false);
            if (text.Length > 0) Emit(TokenKind.Data, text, null, bodyStart);
            Finish(end);
            return;
        }
        throw Fail("Missing end of raw directive", bodyStart);
    }

    void LexComment(int bodyStart)
    {
        for (var i = bodyStart; i < src.Length; i++)
        {
            var end = MatchTagEnd(i, "#}", trim: true, allowPlus: true);
            if (end >= 0) { Finish(end); return; }
        }
        throw Fail("Missing end of comment tag", bodyStart);
    }

    // At i: '+' end, '-' end followed by any whitespace, or a bare end followed by one newline (trim_blocks).
    int MatchTagEnd(int i, string end, bool trim, bool allowPlus)
    {
        if (i < src.Length && src[i] == '-' && string.CompareOrdinal(src, i + 1, end, 0, 2) == 0) return SkipSpace(i + 3);
        if (allowPlus && i < src.Length && src[i] == '+' && string.CompareOrdinal(src, i + 1, end, 0, 2) == 0) return i + 3;
        if (string.CompareOrdinal(src, i, end, 0, 2) == 0)
            return trim && i + 2 < src.Length && src[i + 2] == '\n' ? i + 3 : i + 2;
        return -1;
    }

    void Finish(int end)
    {
        lineStarting = end > 0 && src[end - 1] == '\n';
        pos = end;
    }

    void LexTag(int tag, int bodyStart, bool isVariable)
    {
        Emit(isVariable ? TokenKind.VariableBegin : TokenKind.BlockBegin, isVariable ? "{{" : "{%", null, tag);
        var balance = new Stack<char>();
        var i = bodyStart;
        while (true)
        {
            if (i >= src.Length)
            {
                pos = i;
                return; // the parser reports the missing end tag
            }
            if (balance.Count == 0)
            {
                var end = isVariable ? MatchTagEnd(i, "}}", trim: false, allowPlus: false) : MatchTagEnd(i, "%}", trim: true, allowPlus: true);
                if (end >= 0)
                {
                    Emit(isVariable ? TokenKind.VariableEnd : TokenKind.BlockEnd, isVariable ? "}}" : "%}", null, i);
                    Finish(end);
                    return;
                }
            }
            var c = src[i];
            if (Py.IsSpace(c)) { i++; continue; }
            if (char.IsAsciiDigit(c)) { i = LexNumber(i); continue; }
            if (c == '_' || char.IsLetter(c) || char.IsSurrogate(c)) { i = LexName(i); continue; }
            if (c is '\'' or '"') { i = LexString(i); continue; }
            var op = Operators.FirstOrDefault(o => string.CompareOrdinal(src, i, o, 0, o.Length) == 0)
                ?? throw Fail($"unexpected char {Py.Repr(c.ToString())} at {i}", i);
            if (op is "(" or "[" or "{") balance.Push(op switch { "(" => ')', "[" => ']', _ => '}' });
            else if (op is ")" or "]" or "}")
            {
                if (balance.Count == 0) throw Fail($"unexpected '{op}'", i);
                var expected = balance.Pop();
                if (expected != op[0]) throw Fail($"unexpected '{op}', expected '{expected}'", i);
            }
            Emit(TokenKind.Operator, op, null, i);
            i += op.Length;
        }
    }

    int LexName(int i)
    {
        var start = i;
        while (i < src.Length && (src[i] == '_' || char.IsLetterOrDigit(src[i]) || char.IsSurrogate(src[i])
            || CharUnicodeInfo.GetUnicodeCategory(src[i]) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.ConnectorPunctuation))
            i++;
        var name = src[start..i];
        if (!char.IsLetter(name[0]) && name[0] != '_') throw Fail("Invalid character in identifier", start);
        Emit(TokenKind.Name, name, null, start);
        return i;
    }

    int Digits(int i, Func<char, bool> isDigit)
    {
        // (\d+_)*\d+ : underscores only between digits
        if (i >= src.Length || !isDigit(src[i])) return -1;
        while (true)
        {
            while (i < src.Length && isDigit(src[i])) i++;
            if (i + 1 < src.Length && src[i] == '_' && isDigit(src[i + 1])) { i++; continue; }
            return i;
        }
    }

    int LexNumber(int start)
    {
        // Floats first, as Jinja tries them first: digits ((. digits)? e[+-]digits | . digits)
        var intEnd = Digits(start, char.IsAsciiDigit);
        var i = intEnd;
        var isFloat = false;
        if (i + 1 < src.Length && src[i] == '.' && char.IsAsciiDigit(src[i + 1])) { i = Digits(i + 1, char.IsAsciiDigit); isFloat = true; }
        if (i < src.Length && src[i] is 'e' or 'E')
        {
            var j = i + 1;
            if (j < src.Length && src[j] is '+' or '-') j++;
            var expEnd = Digits(j, char.IsAsciiDigit);
            if (expEnd > 0) { i = expEnd; isFloat = true; }
        }
        if (isFloat && !(start > 0 && src[start - 1] == '.'))
        {
            var text = src[start..i].Replace("_", "");
            Emit(TokenKind.Float, text, double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture), start);
            return i;
        }
        // Integers: 0b / 0o / 0x prefixes, decimal without leading zeros, or zeros
        if (src[start] == '0' && start + 2 < src.Length && src[start + 1] is 'b' or 'B' or 'o' or 'O' or 'x' or 'X')
        {
            var radix = src[start + 1] is 'b' or 'B' ? 2 : src[start + 1] is 'o' or 'O' ? 8 : 16;
            Func<char, bool> isDigit = radix == 2 ? c => c is '0' or '1' : radix == 8 ? c => c is >= '0' and <= '7' : char.IsAsciiHexDigit;
            var j = start + 2;
            while (j < src.Length && (isDigit(src[j]) || (src[j] == '_' && j + 1 < src.Length && isDigit(src[j + 1])))) j++;
            if (j > start + 2)
            {
                BigInteger value = 0;
                foreach (var c in src[(start + 2)..j])
                    if (c != '_') value = value * radix + Convert.ToInt32(c.ToString(), 16);
                EmitInteger(value, src[start..j], start);
                return j;
            }
        }
        if (src[start] == '0')
        {
            var j = start + 1;
            while (j < src.Length && (src[j] == '0' || (src[j] == '_' && j + 1 < src.Length && src[j + 1] == '0'))) j++;
            EmitInteger(0, src[start..j], start);
            return j;
        }
        var digitsText = src[start..intEnd];
        EmitInteger(BigInteger.Parse(digitsText.Replace("_", ""), CultureInfo.InvariantCulture), digitsText, start);
        return intEnd;
    }

    void EmitInteger(BigInteger value, string text, int at)
    {
        if (value > long.MaxValue) throw Fail($"integer literal {text} is too large", at);
        Emit(TokenKind.Integer, text, (long)value, at);
    }

    int LexString(int start)
    {
        var quote = src[start];
        var i = start + 1;
        while (i < src.Length && src[i] != quote)
            i += src[i] == '\\' && i + 1 < src.Length ? 2 : 1;
        if (i >= src.Length) throw Fail($"unexpected char {Py.Repr(quote.ToString())} at {start}", start);
        Emit(TokenKind.String, src[start..(i + 1)], Unescape(src[(start + 1)..i], start), start);
        return i + 1;
    }

    // Python's unicode-escape decoding, as Jinja applies it to string literals.
    string Unescape(string s, int at)
    {
        if (!s.Contains('\\')) return s;
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\' || i + 1 >= s.Length)
            {
                if (s[i] == '\\') throw Fail("\\ at end of string", at);
                sb.Append(s[i]);
                continue;
            }
            var c = s[++i];
            switch (c)
            {
                case '\n': break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case >= '0' and <= '7':
                    var value = 0;
                    var n = 0;
                    while (n < 3 && i < s.Length && s[i] is >= '0' and <= '7') { value = value * 8 + (s[i] - '0'); i++; n++; }
                    i--;
                    sb.Append((char)value);
                    break;
                case 'x': sb.Append(HexEscape(s, ref i, 2, at)); break;
                case 'u': sb.Append(HexEscape(s, ref i, 4, at)); break;
                case 'U': sb.Append(HexEscape(s, ref i, 8, at)); break;
                default:
                    // Non-ASCII characters went through backslashreplace first, so "\é" reads as "\xe9" verbatim.
                    sb.Append('\\');
                    if (c < 0x80) sb.Append(c);
                    else sb.Append(c < 0x100 ? $"x{(int)c:x2}" : $"u{(int)c:x4}");
                    break;
            }
        }
        return sb.ToString();
    }

    string HexEscape(string s, ref int i, int count, int at)
    {
        var first = i + 1;
        if (first + count > s.Length || s.AsSpan(first, count).ContainsAnyExcept("0123456789abcdefABCDEF"))
            throw Fail($"'unicodeescape' codec can't decode bytes: truncated \\{s[i]}{new string('X', count)} escape", at);
        var value = long.Parse(s.AsSpan(first, count), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        if (value > 0x10FFFF) throw Fail("'unicodeescape' codec can't decode bytes: illegal Unicode character", at);
        i += count;
        return value < 0x10000 ? ((char)value).ToString() : char.ConvertFromUtf32((int)value);
    }
}
