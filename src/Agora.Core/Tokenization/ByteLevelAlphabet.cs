namespace Agora.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ printable-character table: byte-level vocabularies spell every byte as one visible
/// character (space is 'Ġ', newline 'Ċ'), so any UTF-8 input has a spelling in the vocabulary.
/// </summary>
static class ByteLevelAlphabet
{
    public static readonly char[] ByteToChar = Build();
    /// <summary>Char → byte, or -1 for chars outside the alphabet.</summary>
    public static readonly short[] CharToByte = Invert(ByteToChar);

    static char[] Build()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    static short[] Invert(char[] map)
    {
        var inv = new short[512];
        Array.Fill(inv, (short)-1);
        for (int b = 0; b < 256; b++) inv[map[b]] = (short)b;
        return inv;
    }

    /// <summary>Appends the bytes a byte-level token spells; a token with any char outside the alphabet (an added
    /// token such as "&lt;|im_start|&gt;" is inside it, but one with other text may not be) as its own UTF-8.</summary>
    public static void AppendBytes(string token, List<byte> bytes)
    {
        foreach (char c in token)
            if (c >= CharToByte.Length || CharToByte[c] < 0)
            {
                bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }
        foreach (char c in token) bytes.Add((byte)CharToByte[c]);
    }
}
