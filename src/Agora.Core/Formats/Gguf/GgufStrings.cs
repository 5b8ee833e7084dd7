using System.Text;

namespace Agora.Formats.Gguf;

/// <summary>
/// The items of a GGUF array of strings, kept as the file's UTF-8 bytes end to end plus where each one ends, and made
/// .NET strings only when asked for. A vocabulary's tokens and merges are hundreds of thousands of short strings: as
/// string objects, Llama 3's 280k merges alone took 13 MB for the file's lifetime, to be read once when the tokenizer
/// is built. Bytes that are not valid UTF-8 stay as they were (so a file written back is unchanged); their text
/// shows U+FFFD in their place.
/// </summary>
internal sealed class GgufStrings : IEquatable<GgufStrings>
{
    readonly byte[] _bytes;
    // _ends[i]: the end of item i in _bytes (it starts where item i − 1 ends).
    readonly int[] _ends;

    public GgufStrings(byte[] bytes, int[] ends)
    {
        _bytes = bytes;
        _ends = ends;
    }

    public static GgufStrings Of(IReadOnlyList<string> items) =>
        Of(items.Count, i => Encoding.UTF8.GetBytes(items[i]));

    /// <summary>Items given as their bytes (<paramref name="item"/> is called once per item, in order).</summary>
    public static GgufStrings Of(int count, Func<int, byte[]> item)
    {
        var buffer = new MemoryStream();
        var ends = new int[count];
        for (int i = 0; i < count; i++)
        {
            var bytes = item(i);
            if (buffer.Length + bytes.Length > System.Array.MaxLength)
                throw new AgoraException($"an array of strings may hold at most {System.Array.MaxLength} bytes of text");
            buffer.Write(bytes);
            ends[i] = (int)buffer.Length;
        }
        return new GgufStrings(buffer.ToArray(), ends);
    }

    public int Count => _ends.Length;

    public ReadOnlySpan<byte> Utf8(int i) => _bytes.AsSpan(Start(i), _ends[i] - Start(i));

    public string this[int i] => Encoding.UTF8.GetString(Utf8(i));

    /// <summary>Item <paramref name="i"/>'s bytes when they are not valid UTF-8 (its text is not them), else null.</summary>
    public byte[]? InvalidUtf8(int i) => System.Text.Unicode.Utf8.IsValid(Utf8(i)) ? null : Utf8(i).ToArray();

    public string[] ToArray()
    {
        var items = new string[Count];
        for (int i = 0; i < items.Length; i++) items[i] = this[i];
        return items;
    }

    int Start(int i) => i == 0 ? 0 : _ends[i - 1];

    public bool Equals(GgufStrings? other) =>
        other != null && _ends.AsSpan().SequenceEqual(other._ends) && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as GgufStrings);

    public override int GetHashCode() => HashCode.Combine(Count, _bytes.Length);
}
