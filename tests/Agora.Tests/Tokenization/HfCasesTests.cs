using System.Text.Json;
using Agora.Tokenization;
using static Agora.Tests.Tokenization.TokenizerFixtures;

namespace Agora.Tests.Tokenization;

/// <summary>Every case of the reference families, as Hugging Face tokenizers computed them.</summary>
public class HfCasesTests
{
    static string Show(int[] ids) => string.Join(' ', ids);
    static string Show(string[] tokens) => JsonSerializer.Serialize(tokens);
    static string Show(string s) => JsonSerializer.Serialize(s);

    [Theory, MemberData(nameof(Families), MemberType = typeof(TokenizerFixtures))]
    public void Ids_without_special_tokens(string family)
    {
        var tok = Family(family);
        AssertAll(Cases(family), c => c.Ids, c => tok.Encode(c.Text, addSpecialTokens: false), Show);
    }

    [Theory, MemberData(nameof(Families), MemberType = typeof(TokenizerFixtures))]
    public void Ids_with_special_tokens(string family)
    {
        var tok = Family(family);
        AssertAll(Cases(family), c => c.IdsWithSpecial, c => tok.Encode(c.Text), Show);
    }

    [Theory, MemberData(nameof(Families), MemberType = typeof(TokenizerFixtures))]
    public void Token_strings(string family)
    {
        var tok = Family(family);
        AssertAll(Cases(family), c => c.Tokens, c => c.Ids.Select(tok.TokenText).ToArray(), Show);
    }

    [Theory, MemberData(nameof(Families), MemberType = typeof(TokenizerFixtures))]
    public void Decoded_text(string family)
    {
        var tok = Family(family);
        AssertAll(Cases(family), c => c.Decoded, c => tok.Decode(c.Ids), Show);
    }

    [Fact]
    public void Concurrent_encoding_gives_the_same_ids()
    {
        var tok = Family("qwen3");
        var cases = Cases("qwen3");
        var results = new int[cases.Count * 8][];
        Parallel.For(0, results.Length, i => results[i] = tok.Encode(cases[i % cases.Count].Text, addSpecialTokens: false));
        for (int i = 0; i < results.Length; i++) Assert.Equal(cases[i % cases.Count].Ids, results[i]);
    }
}
