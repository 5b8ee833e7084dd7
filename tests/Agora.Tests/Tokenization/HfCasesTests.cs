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
}
