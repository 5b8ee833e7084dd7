using Agora.Tokenization.Gguf;

namespace Agora.Tests.Tokenization;

/// <summary>llama.cpp's pre-tokenizer table and splitter.</summary>
public class GgufPreTokenizerTests
{
    static string[] Split(string pre, string text)
    {
        var spec = LlamaCppPreTokenizers.Get(pre);
        var words = new List<Range>();
        new LlamaCppPreTokenizer(spec.Patterns).Split(text, words);
        return words.Select(r => text[r]).ToArray();
    }

    const string Mixed = "Hello, y'all! How's it  going?\n\n  3333333 ½ 😁 我想在apple工作 Ünïcödé 𝟘𝟙 \t\r\n end";

    public static TheoryData<string> AllNames => new(LlamaCppPreTokenizers.Names);

    [Theory]
    [MemberData(nameof(AllNames))]
    public void EveryKnownNameSplitsTextIntoPiecesThatCoverIt(string name)
    {
        var words = Split(name, Mixed);
        Assert.NotEmpty(words);
        Assert.Equal(Mixed, string.Concat(words));
    }

    [Fact]
    public void TheTableKnowsLlamaCppsNames()
    {
        foreach (var name in new[] { "default", "llama3", "llama-v3", "llama-bpe", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon",
                     "mpt", "starcoder", "refact", "command-r", "qwen2", "stablelm2", "olmo", "dbrx", "smaug-bpe", "poro-chat", "jais", "tekken",
                     "smollm", "codeshell", "bloom", "gpt3-finnish", "exaone", "chameleon", "minerva-7b", "megrez", "gpt-4o", "gpt-2", "superbpe",
                     "trillion", "bailingmoe", "llama4", "pixtral", "seed-coder" })
            Assert.Contains(name, LlamaCppPreTokenizers.Names);
    }

    [Fact]
    public void UnknownNamesAreRefusedAndAMissingNameIsDefault()
    {
        var e = Assert.Throws<AgoraException>(() => LlamaCppPreTokenizers.Get("no-such-pre"));
        Assert.Contains("'no-such-pre'", e.Message);
        Assert.Equal("default", LlamaCppPreTokenizers.Get(null).Name);
        Assert.Equal("default", LlamaCppPreTokenizers.Get("").Name);
    }

    [Fact]
    public void Gpt2KeepsTheLastSpaceForTheNextWord() =>
        Assert.Equal(["Hello", ",", " y", "'", "all", "!", "  ", " x", "  "], Split("gpt-2", "Hello, y'all!   x  "));

    [Fact]
    public void Llama3GroupsDigitsInThreesAndNewlinesWithWhitespace() =>
        Assert.Equal(["Hello", " world", "\n\n", " ", " ", "123", "456", "7", "'S"], Split("llama3", "Hello world\n\n  1234567'S"));

    [Fact]
    public void Qwen2SplitsEveryDigit() =>
        Assert.Equal(["abc", "1", "2", "3"], Split("qwen2", "abc123"));

    [Fact]
    public void CategoryPatternsSeeAstralCodePointsAsOneCharacter()
    {
        // U+1D7D8 MATHEMATICAL DOUBLE-STRUCK DIGIT ZERO is \p{N}: one piece each under deepseek-coder's \p{N}.
        Assert.Equal(["\U0001D7D8", "\U0001D7D9"], Split("deepseek-coder", "\U0001D7D8\U0001D7D9"));
        // U+10400 DESERET CAPITAL LONG I is in deepseek-llm's letter class, written as a surrogate pair for .NET.
        Assert.Equal([" \U00010400\U00010428", "1"], Split("deepseek-llm", " \U00010400\U000104281"));
    }
}
