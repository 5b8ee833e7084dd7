using Agora.Tokenization;
using static Agora.Tests.Tokenization.TokenizerFixtures;

namespace Agora.Tests.Tokenization;

public class StreamingDecoderTests
{
    /// <summary>Pushes ids one at a time; checks every chunk is whole characters and the total equals Decode.</summary>
    static void AssertStreamsLikeDecode(Tokenizer tok, int[] ids, bool skipSpecial = false)
    {
        var stream = tok.CreateStreamingDecoder(skipSpecial);
        var text = new System.Text.StringBuilder();
        foreach (var id in ids)
        {
            var chunk = stream.Push(id);
            if (chunk.Length > 0) Assert.False(char.IsHighSurrogate(chunk[^1]), "a chunk ends inside a character");
            text.Append(chunk);
        }
        text.Append(stream.Flush());
        Assert.Equal(tok.Decode(ids, skipSpecial), text.ToString());
    }

    [Theory, MemberData(nameof(Families), MemberType = typeof(TokenizerFixtures))]
    public void Streaming_equals_decode_on_every_case(string family)
    {
        var tok = Family(family);
        foreach (var c in Cases(family))
        {
            AssertStreamsLikeDecode(tok, c.IdsWithSpecial);
            AssertStreamsLikeDecode(tok, c.IdsWithSpecial, skipSpecial: true);
        }
    }

    [Theory, MemberData(nameof(Families), MemberType = typeof(TokenizerFixtures))]
    public void Multibyte_characters_come_out_whole_once_complete(string family)
    {
        var tok = Family(family);
        var ids = tok.Encode("a🦙b", addSpecialTokens: false);
        var stream = tok.CreateStreamingDecoder();
        var chunks = ids.Select(stream.Push).ToList();
        Assert.Equal("a🦙b", string.Concat(chunks) + stream.Flush());
        Assert.Contains(chunks, c => c.Contains("🦙"));
        Assert.DoesNotContain(chunks, c => c.Contains('\uFFFD'));
    }

    [Fact]
    public void Emoji_split_over_byte_fallback_tokens_waits_for_its_last_byte()
    {
        var tok = Family("llama2");
        var ids = tok.Encode("🦙", addSpecialTokens: false);
        var bytes = ids.Where(i => tok.TokenText(i).StartsWith("<0x")).ToArray();
        Assert.Equal(4, bytes.Length);
        var stream = tok.CreateStreamingDecoder();
        var chunks = ids.Select(stream.Push).ToArray();
        Assert.Equal("🦙", chunks[^1].TrimStart());
        Assert.All(chunks[..^1], c => Assert.DoesNotContain('\uFFFD', c));
    }

    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    public void Random_byte_level_ids_including_broken_utf8_stream_like_decode(string family)
    {
        var tok = Family(family);
        var rng = new Random(1234);
        for (int round = 0; round < 200; round++)
        {
            // Single-byte tokens (ids 0..255 hold the byte alphabet) break characters at random; others are whole.
            var ids = Enumerable.Range(0, rng.Next(1, 12)).Select(_ => rng.Next(3) == 0 ? rng.Next(256) : rng.Next(tok.VocabSize)).ToArray();
            AssertStreamsLikeDecode(tok, ids);
        }
    }

    [Fact]
    public void Invalid_byte_fallback_bytes_become_replacement_characters_as_in_decode()
    {
        var tok = Family("llama2");
        int Byte(int b) => tok.TokenId($"<0x{b:X2}>")!.Value;
        int[] ids = [tok.TokenId("▁the")!.Value, Byte(0xF0), Byte(0x9F), tok.TokenId("▁world")!.Value, Byte(0xE2)];
        Assert.Equal("the\uFFFD\uFFFD world\uFFFD", tok.Decode(ids));
        AssertStreamsLikeDecode(tok, ids);
    }

    [Fact]
    public void Out_of_range_ids_are_refused()
    {
        var tok = Family("llama3");
        Assert.Throws<AgoraException>(() => tok.Decode([tok.VocabSize]));
        Assert.Throws<AgoraException>(() => tok.Decode([-1]));
        Assert.Throws<AgoraException>(() => tok.CreateStreamingDecoder().Push(tok.VocabSize + 5));
        Assert.Throws<AgoraException>(() => tok.TokenText(-3));
    }
}
