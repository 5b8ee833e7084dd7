using System.Text.Json;
using Agora.Tokenization;
using static Agora.Tests.Tokenization.TokenizerFixtures;

namespace Agora.Tests.Tokenization;

/// <summary>Tokenizers built from parts (the GGUF route) agree with the same vocabularies loaded from tokenizer.json.</summary>
public class TokenizerPartsTests
{
    static (string[] Tokens, List<(string, string)> Merges) VocabAndMerges(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
        var model = doc.RootElement.GetProperty("model");
        var vocab = model.GetProperty("vocab").EnumerateObject().ToList();
        var tokens = new string[doc.RootElement.GetProperty("added_tokens").EnumerateArray().Select(a => a.GetProperty("id").GetInt32() + 1).Append(vocab.Count).Max()];
        foreach (var p in vocab) tokens[p.Value.GetInt32()] = p.Name;
        foreach (var a in doc.RootElement.GetProperty("added_tokens").EnumerateArray()) tokens[a.GetProperty("id").GetInt32()] = a.GetProperty("content").GetString()!;
        var merges = model.GetProperty("merges").EnumerateArray().Select(m =>
            m.ValueKind == JsonValueKind.String ? (m.GetString()!.Split(' ')[0], m.GetString()!.Split(' ')[1]) : (m[0].GetString()!, m[1].GetString()!)).ToList();
        return (tokens, merges);
    }

    [Fact]
    public void Byte_level_parts_match_llama3()
    {
        var reference = Family("llama3");
        var (tokens, merges) = VocabAndMerges(Fixtures.Require("tokenizers", "llama3", "tokenizer.json"));
        var kinds = tokens.Select((_, i) => i >= 128000 ? TokenKind.Control : TokenKind.Normal).ToArray();
        var tok = Tokenizer.FromParts(new TokenizerParts
        {
            Tokens = tokens, Merges = merges, Kinds = kinds, IgnoreMerges = true,
            PreTokenizerPatterns = [Gpt2Splitter.Llama3Pattern],
            BosId = 128000, EosId = 128001, AddBos = true,
        }, "llama3 parts");
        Assert.True(tok.AddBos);
        foreach (var c in Cases("llama3"))
        {
            Assert.Equal(c.Ids, tok.Encode(c.Text, addSpecialTokens: false));
            Assert.Equal([128000, .. c.Ids], tok.Encode(c.Text));
            Assert.Equal(c.Decoded, tok.Decode(c.Ids));
        }
        Assert.Equal(reference.VocabSize, tok.VocabSize);
    }

    [Fact]
    public void SentencePiece_parts_match_llama2()
    {
        var (tokens, merges) = VocabAndMerges(Fixtures.Require("tokenizers", "llama2", "tokenizer.json"));
        var kinds = tokens.Select((t, i) => i == 0 ? TokenKind.Unknown : i < 3 ? TokenKind.Control : t.StartsWith("<0x") ? TokenKind.Byte : TokenKind.Normal).ToArray();
        var tok = Tokenizer.FromParts(new TokenizerParts
        {
            Tokens = tokens, Merges = merges, Kinds = kinds, Flavor = TokenizerFlavor.SentencePiece,
            ByteFallback = true, AddSpacePrefix = true, UnkId = 0, BosId = 1, EosId = 2, AddBos = true,
        }, "llama2 parts");
        foreach (var c in Cases("llama2"))
        {
            Assert.Equal(c.Ids, tok.Encode(c.Text, addSpecialTokens: false));
            Assert.Equal(c.IdsWithSpecial, tok.Encode(c.Text));
            Assert.Equal(c.Decoded, tok.Decode(c.Ids));
        }
    }

    [Fact]
    public void Merges_from_scores_prefer_the_higher_scored_result()
    {
        string[] tokens = ["<unk>", "a", "b", "c", "ab", "bc", "abc"];
        float[] scores = [0, -1, -1, -1, -5, -2, -3];
        var tok = Tokenizer.FromParts(new TokenizerParts
        {
            Tokens = tokens, Scores = scores, Flavor = TokenizerFlavor.SentencePiece, UnkId = 0,
            Kinds = [TokenKind.Unknown, .. Enumerable.Repeat(TokenKind.Normal, 6)],
        });
        // "bc" (-2) merges before "ab" (-5); then "a"+"bc" makes "abc" (-3).
        Assert.Equal([6], tok.Encode("abc", addSpecialTokens: false));
        Assert.Equal([4, 0], tok.Encode("abx", addSpecialTokens: false));
        Assert.Equal("abx".Replace('x', ' ').TrimEnd(), tok.Decode([4]));
    }

    [Fact]
    public void Bad_parts_are_refused()
    {
        Assert.Throws<AgoraFormatException>(() => Tokenizer.FromParts(new TokenizerParts { Tokens = [] }));
        Assert.Throws<AgoraFormatException>(() => Tokenizer.FromParts(new TokenizerParts { Tokens = ["a"], BosId = 3 }));
        Assert.Throws<AgoraFormatException>(() => Tokenizer.FromParts(new TokenizerParts { Tokens = ["a", "b"], Merges = [("a", "c")] }));
        Assert.Throws<AgoraFormatException>(() => Tokenizer.FromParts(new TokenizerParts { Tokens = ["a"], Kinds = [TokenKind.Normal, TokenKind.Normal] }));
    }

    [Fact]
    public void Encoding_cached_text_allocates_nothing()
    {
        var tok = Family("llama3");
        var text = File.ReadAllText(Fixtures.Require("text", "kjv-heldout.txt"))[..50_000];
        var ids = new List<int>(100_000);
        for (int warm = 0; warm < 2; warm++) // twice: the piece lists swap roles between calls
        {
            ids.Clear();
            tok.Encode(text, ids, addSpecialTokens: false);
        }
        ids.Clear();
        long before = GC.GetAllocatedBytesForCurrentThread();
        tok.Encode(text, ids, addSpecialTokens: false);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(ids.Count > 5000);
    }
}
