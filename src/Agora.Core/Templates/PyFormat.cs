using System.Globalization;
using System.Text;

namespace Agora.Templates;

/// <summary>Python's two string formatting mini-languages: <c>"%s" % x</c> and <c>"{}".format(x)</c>.</summary>
internal static class PyFormat
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Printf(string format, object? args)
    {
        var values = args is PyTuple t ? t.Items : [args];
        var mapping = args as PyDict;
        var next = 0;
        var sb = new StringBuilder();
        object? NextArg()
        {
            if (next >= values.Length) throw TemplateException.Type("not enough arguments for format string");
            return values[next++];
        }
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c != '%') { sb.Append(c); continue; }
            if (++i >= format.Length) throw TemplateException.Value("incomplete format");
            object? value = CallArguments.Missing;
            if (format[i] == '(')
            {
                var close = format.IndexOf(')', i);
                if (close < 0) throw TemplateException.Value("incomplete format key");
                if (mapping is null) throw TemplateException.Type("format requires a mapping");
                var key = format[(i + 1)..close];
                if (!mapping.TryGet(key, out value)) throw new TemplateException("KeyError", Py.Repr(key));
                i = close + 1;
            }
            var flags = "";
            while (i < format.Length && format[i] is '-' or '+' or ' ' or '0' or '#') flags += format[i++];
            int? width = null, precision = null;
            if (i < format.Length && format[i] == '*') { width = (int)Py.ToLong(NextArg()); i++; }
            else { var w = ReadNumber(format, ref i); if (w >= 0) width = w; }
            if (i < format.Length && format[i] == '.')
            {
                i++;
                if (i < format.Length && format[i] == '*') { precision = (int)Py.ToLong(NextArg()); i++; }
                else precision = Math.Max(0, ReadNumber(format, ref i));
            }
            if (i >= format.Length) throw TemplateException.Value("incomplete format");
            var conv = format[i];
            if (conv == '%') { sb.Append('%'); continue; }
            if (ReferenceEquals(value, CallArguments.Missing)) value = mapping != null && args is not PyTuple ? mapping : NextArg();
            var spec = new Spec { Fill = flags.Contains('0') && !flags.Contains('-') && conv != 's' && conv != 'r' ? '0' : ' ',
                Align = flags.Contains('-') ? '<' : '>', Sign = flags.Contains('+') ? '+' : flags.Contains(' ') ? ' ' : '-',
                Alternate = flags.Contains('#'), Width = width ?? 0, Precision = precision, Type = conv };
            if (spec.Fill == '0') spec.Align = '=';
            sb.Append(conv switch
            {
                's' => Pad(Py.Str(value), spec, numeric: false),
                'r' or 'a' => Pad(Py.Repr(value), spec, numeric: false),
                'c' => Pad(value is long l ? char.ConvertFromUtf32((int)l) : Py.Str(value), spec, numeric: false),
                'd' or 'i' or 'u' => FormatNumber(ToNumber(value, conv, truncate: true), spec with { Type = 'd' }),
                _ => FormatNumber(ToNumber(value, conv, truncate: conv is 'x' or 'X' or 'o'), spec),
            });
            Py.CheckLength(sb.Length);
        }
        if (next < values.Length && mapping is null) throw TemplateException.Type("not all arguments converted during string formatting");
        return sb.ToString();
    }

    static object ToNumber(object? v, char conv, bool truncate)
    {
        if (v is bool b) return b ? 1L : 0L;
        if (v is long) return v;
        if (v is double d) return truncate ? (object)(long)Math.Truncate(d) : d;
        throw TemplateException.Type($"%{conv} format: a real number is required, not {Py.TypeName(v)}");
    }

    static int ReadNumber(string s, ref int i)
    {
        var start = i;
        while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
        return i == start ? -1 : int.Parse(s.AsSpan(start, i - start), Inv);
    }

    record struct Spec(char Fill, char Align, char Sign, bool Alternate, int Width, int? Precision, char Type, bool Grouping = false);

    public static string Format(string format, CallArguments args)
    {
        var sb = new StringBuilder();
        var auto = 0;
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c == '}')
            {
                if (i + 1 < format.Length && format[i + 1] == '}') { sb.Append('}'); i++; continue; }
                throw TemplateException.Value("Single '}' encountered in format string");
            }
            if (c != '{') { sb.Append(c); continue; }
            if (i + 1 < format.Length && format[i + 1] == '{') { sb.Append('{'); i++; continue; }
            var depth = 1;
            var j = i + 1;
            for (; j < format.Length && depth > 0; j++) depth += format[j] == '{' ? 1 : format[j] == '}' ? -1 : 0;
            if (depth > 0) throw TemplateException.Value("expected '}' before end of string");
            var field = format[(i + 1)..(j - 1)];
            i = j - 1;
            string? spec = null;
            char? conversion = null;
            var colon = field.IndexOf(':');
            if (colon >= 0) { spec = field[(colon + 1)..]; field = field[..colon]; }
            var bang = field.IndexOf('!');
            if (bang >= 0)
            {
                if (bang + 2 != field.Length) throw TemplateException.Value("expected ':' after conversion specifier");
                conversion = field[bang + 1];
                field = field[..bang];
            }
            if (spec != null && spec.Contains('{')) spec = Format(spec, args);
            var value = ResolveField(field, args, ref auto);
            if (conversion == 'r') value = Py.Repr(value);
            else if (conversion == 's') value = Py.Str(value);
            sb.Append(FormatValue(value, spec ?? ""));
            Py.CheckLength(sb.Length);
        }
        return sb.ToString();
    }

    static object? ResolveField(string field, CallArguments args, ref int auto)
    {
        var end = 0;
        while (end < field.Length && field[end] is not ('.' or '[')) end++;
        var head = field[..end];
        object? value;
        if (head.Length == 0 || char.IsAsciiDigit(head[0]))
        {
            var index = head.Length == 0 ? auto++ : int.Parse(head, Inv);
            if (index >= args.Positional.Count)
                throw new TemplateException("IndexError", $"Replacement index {index} out of range for positional args tuple");
            value = args.Positional[index];
        }
        else
        {
            var found = args.Keywords.FindIndex(k => k.Key == head);
            if (found < 0) throw new TemplateException("KeyError", Py.Repr(head));
            value = args.Keywords[found].Value;
        }
        var rest = field[end..];
        while (rest.Length > 0)
        {
            if (rest[0] == '.')
            {
                var stop = rest.IndexOfAny(['.', '['], 1);
                var name = stop < 0 ? rest[1..] : rest[1..stop];
                value = TemplateRenderer.GetAttr(value, name);
                rest = stop < 0 ? "" : rest[stop..];
            }
            else
            {
                var close = rest.IndexOf(']');
                if (close < 0) throw TemplateException.Value("Missing ']' in format string");
                var key = rest[1..close];
                value = TemplateRenderer.GetItem(value, long.TryParse(key, NumberStyles.None, Inv, out var n) ? n : key);
                rest = rest[(close + 1)..];
            }
        }
        return value;
    }

    static string FormatValue(object? value, string spec)
    {
        if (spec.Length == 0) return Py.Str(value);
        var s = ParseSpec(spec);
        if (Py.IsString(value) || value is null or Undefined or List<object?> or PyDict or PyTuple)
        {
            if (!Py.IsString(value)) throw TemplateException.Type($"unsupported format string passed to {Py.TypeName(value)}.__format__");
            if (s.Type is not ('\0' or 's')) throw TemplateException.Value($"Unknown format code '{s.Type}' for object of type 'str'");
            var text = Py.AsString(value)!;
            if (s.Precision is { } p && p < text.Length) text = text[..p];
            return Pad(text, s with { Align = s.Align == '\0' ? '<' : s.Align }, numeric: false);
        }
        var number = value is bool b ? (b ? 1L : 0L) : value!;
        if (s.Type == '\0') s = s with { Type = number is double ? (s.Precision != null ? 'g' : 'r') : 'd' };
        return FormatNumber(number, s);
    }

    static Spec ParseSpec(string spec)
    {
        var s = new Spec(' ', '\0', '-', false, 0, null, '\0');
        var i = 0;
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^' or '=') { s.Fill = spec[0]; s.Align = spec[1]; i = 2; }
        else if (spec.Length >= 1 && spec[0] is '<' or '>' or '^' or '=') { s.Align = spec[0]; i = 1; }
        if (i < spec.Length && spec[i] is '+' or '-' or ' ') s.Sign = spec[i++];
        if (i < spec.Length && spec[i] == '#') { s.Alternate = true; i++; }
        if (i < spec.Length && spec[i] == '0') { if (s.Align == '\0') { s.Fill = '0'; s.Align = '='; } i++; }
        var w = ReadNumber(spec, ref i);
        if (w >= 0) s.Width = w;
        if (i < spec.Length && spec[i] is ',' or '_') { s.Grouping = true; i++; }
        if (i < spec.Length && spec[i] == '.') { i++; s.Precision = Math.Max(0, ReadNumber(spec, ref i)); }
        if (i < spec.Length) s.Type = spec[i++];
        if (i != spec.Length) throw TemplateException.Value("Invalid format specifier");
        return s;
    }

    static string FormatNumber(object number, Spec s)
    {
        var negative = number is long l0 ? l0 < 0 : double.IsNegative((double)number);
        string body;
        switch (s.Type)
        {
            case 'd' or 'n':
                if (number is double) throw TemplateException.Value("Unknown format code 'd' for object of type 'float'");
                body = Math.Abs((decimal)(long)number).ToString(s.Grouping ? "#,0" : "0", Inv);
                break;
            case 'x' or 'X' or 'o' or 'b':
                if (number is double) throw TemplateException.Value($"Unknown format code '{s.Type}' for object of type 'float'");
                var magnitude = (ulong)Math.Abs((decimal)(long)number);
                body = s.Type switch
                {
                    'x' => magnitude.ToString("x", Inv),
                    'X' => magnitude.ToString("X", Inv),
                    'o' => Convert.ToString((long)magnitude, 8),
                    _ => Convert.ToString((long)magnitude, 2),
                };
                if (s.Alternate) body = (s.Type switch { 'x' => "0x", 'X' => "0X", 'o' => "0o", _ => "0b" }) + body;
                break;
            case 'f' or 'F' or 'e' or 'E' or 'g' or 'G' or '%' or 'r':
                var d = Math.Abs(Py.ToDouble(number));
                if (s.Type == '%') d *= 100;
                body = s.Type switch
                {
                    'r' => Py.FloatRepr(d),
                    'f' or 'F' or '%' => d.ToString("F" + (s.Precision ?? 6), Inv) + (s.Type == '%' ? "%" : ""),
                    'e' or 'E' => Exponent(d, s.Precision ?? 6, s.Type),
                    _ => General(d, s.Precision ?? 6, s.Type == 'G'),
                };
                if (double.IsNaN(d)) body = "nan";
                else if (double.IsInfinity(d)) body = "inf";
                break;
            default: throw TemplateException.Value($"Unknown format code '{s.Type}' for object of type '{Py.TypeName(number)}'");
        }
        var sign = negative ? "-" : s.Sign == '+' ? "+" : s.Sign == ' ' ? " " : "";
        if (s.Align == '=' || (s.Align == '\0' && s.Fill == '0'))
        {
            var pad = s.Width - sign.Length - body.Length;
            return sign + (pad > 0 ? new string(s.Fill, pad) : "") + body;
        }
        return Pad(sign + body, s with { Align = s.Align == '\0' ? '>' : s.Align }, numeric: true);
    }

    static string Exponent(double d, int precision, char type)
    {
        var text = d.ToString((type == 'E' ? "E" : "e") + precision, Inv); // 1.500000e+003
        var e = text.IndexOfAny(['e', 'E']);
        var exp = int.Parse(text[(e + 1)..], Inv);
        return text[..(e + 1)] + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", Inv);
    }

    static string General(double d, int precision, bool upper)
    {
        if (precision == 0) precision = 1;
        if (d == 0) return "0";
        var exp = (int)Math.Floor(Math.Log10(d));
        var rounded = double.Parse(d.ToString("E" + (precision - 1), Inv), Inv);
        if (rounded != 0) exp = (int)Math.Floor(Math.Log10(rounded));
        string text;
        if (exp < -4 || exp >= precision)
        {
            text = Exponent(d, precision - 1, upper ? 'E' : 'e');
            var e = text.IndexOfAny(['e', 'E']);
            var mantissa = text[..e];
            if (mantissa.Contains('.')) mantissa = mantissa.TrimEnd('0').TrimEnd('.');
            text = mantissa + text[e..];
        }
        else
        {
            text = d.ToString("F" + Math.Max(0, precision - 1 - exp), Inv);
            if (text.Contains('.')) text = text.TrimEnd('0').TrimEnd('.');
        }
        return text;
    }

    static string Pad(string text, Spec s, bool numeric)
    {
        var n = Py.CodePointCount(text);
        if (s.Width <= n) return text;
        Py.CheckLength(s.Width);
        var pad = s.Width - n;
        return s.Align switch
        {
            '<' => text + new string(s.Fill, pad),
            '^' => new string(s.Fill, pad / 2) + text + new string(s.Fill, pad - pad / 2),
            _ => new string(s.Fill, pad) + text,
        };
    }
}
