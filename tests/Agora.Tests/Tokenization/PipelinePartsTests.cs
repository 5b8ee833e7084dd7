using Agora.Tokenization;

namespace Agora.Tests.Tokenization;

/// <summary>The less common Hugging Face pieces, on examples whose results the Hugging Face documentation gives.</summary>
public sealed class PipelinePartsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("agora-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static string[] Pieces(PreTokenizer pre, string text, bool atStart = true)
    {
        var p = new PreTokenized();
        p.Reset(text, 0, text.Length, atStart);
        pre.Apply(p);
        return Enumerable.Range(0, p.Pieces.Count).Select(i => p[i].ToString()).ToArray();
    }

    [Theory]
    [InlineData("Removed", false, "the|final|countdown")]
    [InlineData("Isolated", false, "the|-|final|-|-|countdown")]
    [InlineData("MergedWithPrevious", false, "the-|final-|-|countdown")]
    [InlineData("MergedWithNext", false, "the|-final|-|-countdown")]
    [InlineData("Contiguous", false, "the|-|final|--|countdown")]
    [InlineData("Removed", true, "-|-|-")]
    public void Split_behaviours(string behavior, bool invert, string expected)
    {
        var split = new SplitPreTokenizer(new TextPatternMatcher(TextPattern.Literal("-")), Enum.Parse<SplitBehavior>(behavior), invert);
        Assert.Equal(expected, string.Join('|', Pieces(split, "the-final--countdown")));
    }

    [Fact]
    public void Metaspace_replaces_spaces_prepends_and_splits()
    {
        Assert.Equal(["▁Hey", "▁friend!"], Pieces(new MetaspacePreTokenizer('▁', PrependScheme.Always, true), "Hey friend!"));
        Assert.Equal(["Hey▁friend!"], Pieces(new MetaspacePreTokenizer('▁', PrependScheme.First, false), "Hey friend!", atStart: false));
        Assert.Equal(["▁Hey▁friend!"], Pieces(new MetaspacePreTokenizer('▁', PrependScheme.First, false), "Hey friend!"));
    }

    [Fact]
    public void Simple_pre_tokenizers()
    {
        Assert.Equal(["Hello", "there", "!", "42"], Pieces(PreTokenizers.Whitespace(), "Hello there! 42"));
        Assert.Equal(["Hello", "there!"], Pieces(PreTokenizers.WhitespaceSplit(), " Hello  there!\n"));
        Assert.Equal(["a", "1", "2", "3", "b"], Pieces(PreTokenizers.Digits(true), "a123b"));
        Assert.Equal(["a", "123", "b"], Pieces(PreTokenizers.Digits(false), "a123b"));
        Assert.Equal(["Hey", ",", "you", "!"], Pieces(PreTokenizers.Bert(), "Hey, you!"));
        Assert.Equal(["Ġhello", "ĠĠ", "Ġworld"], Pieces(new SequencePreTokenizer([new ByteLevelPreTokenizer(true, true)]), "hello   world")
            .Select(s => string.Concat(System.Text.Encoding.UTF8.GetBytes(s).Select(b => ByteLevelAlphabet.ByteToChar[b]))).ToArray());
    }

    [Fact]
    public void Normalizers()
    {
        Assert.Equal("hello", new LowercaseNormalizer().Normalize("HeLLo"));
        Assert.Equal("cafe", new SequenceNormalizer([new UnicodeNormalizer(System.Text.NormalizationForm.FormD), new StripAccentsNormalizer()]).Normalize("café"));
        Assert.Equal("x ", new StripNormalizer(true, false).Normalize("  x "));
        Assert.Equal("a_b_c", new ReplaceNormalizer(TextPattern.FromRegex(@"\s+"), "_").Normalize("a  b\tc"));
        Assert.Equal("", new PrependNormalizer("▁").Normalize(""));
    }

    /// <summary>A small SentencePiece-style file: lowercase normalizer, Metaspace, Roberta post-processor, unknown token.</summary>
    internal const string MetaspaceJson = """
        {
          "added_tokens": [{"id": 0, "content": "<s>", "special": true}, {"id": 1, "content": "</s>", "special": true},
                           {"id": 9, "content": "[x]", "special": false, "lstrip": true, "normalized": false}],
          "normalizer": {"type": "Lowercase"},
          "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
          "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0]},
          "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"},
          "model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "▁": 2, "a": 3, "b": 4, "▁a": 5, "▁ab": 6, "<unk>": 7, "c": 8},
                    "merges": ["▁ a", "▁a b"], "unk_token": "<unk>", "fuse_unk": true}
        }
        """;

    /// <summary>A whole file using a normalizer, Metaspace, a Roberta post-processor and the Metaspace decoder.</summary>
    [Fact]
    public void A_metaspace_tokenizer_from_json()
    {
        var path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, MetaspaceJson);
        var tok = Tokenizer.FromFile(path);
        Assert.Equal([0, 6, 5, 9, 2, 8, 7, 1], tok.Encode("AB a [x] cQZ"));
        Assert.Equal("ab a[x] c<unk>", tok.Decode([6, 5, 9, 2, 8, 7]));
        Assert.Equal("ab ac", tok.Decode([0, 6, 5, 8, 1], skipSpecialTokens: true));
        Assert.True(tok.IsSpecial(0) && !tok.IsSpecial(9) && !tok.IsSpecial(5));
    }
}
