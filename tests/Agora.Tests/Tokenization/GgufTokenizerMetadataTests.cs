using Agora.Formats.Gguf;
using Agora.Tokenization.Gguf;

namespace Agora.Tests.Tokenization;

/// <summary>Tokenizers from hand-written GGUF metadata: what loads, and what is refused with the file named.</summary>
public class GgufTokenizerMetadataTests
{
    static GgufTokenizer LoadWith(Action<GgufWriter> edit)
    {
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.String("llama"));
        w.Add("tokenizer.ggml.model", GgufValue.String("gpt2"));
        w.Add("tokenizer.ggml.pre", GgufValue.String("gpt-2"));
        w.Add("tokenizer.ggml.tokens", GgufValue.StringArray(["a", "b", "ab", "Ġ", "Ġab", "<|eot|>", "<|user|>"]));
        w.Add("tokenizer.ggml.token_type", GgufValue.Int32Array([1, 1, 1, 1, 1, 3, 4]));
        w.Add("tokenizer.ggml.merges", GgufValue.StringArray(["a b", "Ġ ab"]));
        w.Add("tokenizer.ggml.bos_token_id", GgufValue.UInt32(0));
        w.Add("tokenizer.ggml.eos_token_id", GgufValue.UInt32(5));
        edit(w);
        string path = Path.Combine(Path.GetTempPath(), $"agora-gguf-vocab-{Guid.NewGuid():N}.gguf");
        try
        {
            w.Write(path);
            using var file = GgufFile.Open(path);
            return GgufTokenizerLoader.Load(file);
        }
        finally { File.Delete(path); }
    }

    static void Refused(Action<GgufWriter> edit, string expected)
    {
        var e = Assert.Throws<AgoraFormatException>(() => LoadWith(edit));
        Assert.Contains(expected, e.Message);
        Assert.Contains("agora-gguf-vocab-", e.Message);
    }

    [Fact]
    public void AHandWrittenVocabularyMergesAndMatchesUserDefinedTokens()
    {
        var tok = LoadWith(_ => { });
        Assert.Equal([2, 4], tok.Encode("ab ab"));
        // User-defined tokens are always cut out of the text; control tokens only when parsing special tokens.
        Assert.Equal([2, 6, 2], tok.Encode("ab<|user|>ab"));
        Assert.DoesNotContain(5, tok.Encode("ab<|eot|>"));
        Assert.Equal([2, 5], tok.Encode("ab<|eot|>", parseSpecial: true));
        Assert.True(tok.IsEndOfGeneration(5));
        Assert.Equal("ab", tok.Decode([2, 5]));
        Assert.Equal("ab<|eot|>", tok.Decode([2, 5], unparseSpecial: true));
    }

    [Fact]
    public void AddBosFromMetadataPutsBosFirstWithAddSpecial()
    {
        var tok = LoadWith(w => w.Add("tokenizer.ggml.add_bos_token", GgufValue.Bool(true)));
        Assert.Equal([0, 2], tok.Encode("ab", addSpecial: true));
        Assert.Equal([2], tok.Encode("ab"));
    }

    [Fact] public void UnsupportedModelsAreRefusedByName() =>
        Refused(w => w.Set("tokenizer.ggml.model", GgufValue.String("bert")), "'bert'");

    [Fact] public void UnknownModelsAreRefusedByName() =>
        Refused(w => w.Set("tokenizer.ggml.model", GgufValue.String("wordsmith")), "'wordsmith'");

    [Fact] public void UnknownPreTokenizersAreRefusedByName() =>
        Refused(w => w.Set("tokenizer.ggml.pre", GgufValue.String("frobnicate")), "'frobnicate'");

    [Fact] public void ScoresMustMatchTheTokens() =>
        Refused(w => w.Add("tokenizer.ggml.scores", GgufValue.Float32Array([0f, 1f])), "scores has 2 entries for 7 tokens");

    [Fact] public void TokenTypesMustMatchTheTokens() =>
        Refused(w => w.Set("tokenizer.ggml.token_type", GgufValue.Int32Array([1, 1, 1])), "token_type has 3 entries for 7 tokens");

    [Fact] public void SpecialIdsMustBeInTheVocabulary() =>
        Refused(w => w.Set("tokenizer.ggml.eos_token_id", GgufValue.UInt32(7)), "eos_token_id is 7");

    [Fact] public void DuplicateTokensAreRefused() =>
        Refused(w => w.Set("tokenizer.ggml.tokens", GgufValue.StringArray(["a", "b", "ab", "Ġ", "Ġab", "a", "c"])), "duplicate token \"a\"");

    [Fact] public void BpeNeedsMerges() =>
        Refused(w => w.Remove("tokenizer.ggml.merges"), "merges is missing");

    [Fact] public void MergesNeedTwoSymbols() =>
        Refused(w => w.Set("tokenizer.ggml.merges", GgufValue.StringArray(["ab"])), "merges[0]");

    [Fact] public void AddBosNeedsABosToken() =>
        Refused(w =>
        {
            w.Remove("tokenizer.ggml.bos_token_id");
            w.Add("tokenizer.ggml.add_bos_token", GgufValue.Bool(true));
        }, "bos_token_id is not set");

    [Fact] public void TokensMustBePresent() =>
        Assert.Throws<AgoraFormatException>(() => LoadWith(w => w.Remove("tokenizer.ggml.tokens")));

    [Fact] public void TokensMustBeStrings() =>
        Assert.Throws<AgoraFormatException>(() => LoadWith(w => w.Set("tokenizer.ggml.tokens", GgufValue.Int32Array([1, 2]))));
}
