using System.Text.Json;
using Agora.Tokenization;

namespace Agora.Tests.Tokenization;

/// <summary>The fixture models' own Hugging Face tokenizers against their reference prompts.</summary>
public class ModelTokenizerTests
{
    public static readonly TheoryData<string> Models = new("llama-a", "qwen2-a", "bloom-a", "kjv-llama");

    [Theory, MemberData(nameof(Models))]
    public void Reference_prompts_encode_to_the_reference_ids(string model)
    {
        var tok = TokenizerFixtures.Model(model);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixtures.Require("models", model, "reference.json")));
        int n = 0;
        foreach (var p in doc.RootElement.GetProperty("prompts").EnumerateArray())
        {
            var expected = p.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(expected, tok.Encode(p.GetProperty("text").GetString()!));
            n++;
        }
        Assert.Equal(4, n);
        Assert.True(tok.AddBos);
        Assert.Equal(0, tok.BosId);
    }

    [Theory, MemberData(nameof(Models))]
    public void Greedy_ids_decode_to_the_reference_text(string model)
    {
        var tok = TokenizerFixtures.Model(model);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixtures.Require("models", model, "reference.json")));
        foreach (var p in doc.RootElement.GetProperty("prompts").EnumerateArray())
        {
            if (!p.TryGetProperty("greedy_text", out var text)) continue;
            var ids = p.GetProperty("greedy_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(text.GetString(), tok.Decode(ids));
        }
    }

    [Theory, MemberData(nameof(Models))]
    public void Text_round_trips(string model)
    {
        var tok = TokenizerFixtures.Model(model);
        var text = File.ReadAllText(Fixtures.Require("text", "kjv-heldout.txt"))[..20_000] + " naïve 🦙 <|im_start|>x<|im_end|>\n\t 42";
        var ids = tok.Encode(text, addSpecialTokens: false);
        Assert.True(ids.Length < text.Length);
        Assert.Equal(text, tok.Decode(ids));
        Assert.Contains(tok.TokenId("<|im_start|>")!.Value, ids);
    }
}
