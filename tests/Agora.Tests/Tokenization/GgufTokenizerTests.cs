using System.Text;
using Agora.Formats.Gguf;
using Agora.Tokenization.Gguf;

namespace Agora.Tests.Tokenization;

public class GgufTokenizerTests
{
    static GgufTokenizer Load(params string[] parts)
    {
        using var file = GgufFile.Open(Fixtures.Require(parts));
        return GgufTokenizerLoader.Load(file);
    }

    /// <summary>
    /// llama.cpp's test-tokenizer-0 cases: .inp holds the texts separated by "\n__ggml_vocab_test__\n", .out one line
    /// of ids per text; tokenized without BOS/EOS and without parsing special tokens.
    /// </summary>
    static List<(string Text, int[] Ids)> ReadCases(string vocab)
    {
        string raw = File.ReadAllText(vocab + ".inp", Encoding.UTF8);
        const string sep = "\n__ggml_vocab_test__\n";
        var texts = new List<string>();
        for (int pos = 0; pos < raw.Length;)
        {
            int next = raw.IndexOf(sep, pos, StringComparison.Ordinal);
            if (next < 0) { texts.Add(raw[pos..]); break; }
            texts.Add(raw[pos..next]);
            pos = next + sep.Length;
        }
        var lines = File.ReadAllLines(vocab + ".out");
        Assert.Equal(texts.Count, lines.Length);
        return texts.Select((t, i) => (t, lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToList();
    }

    [Theory]
    [InlineData("ggml-vocab-gpt-2.gguf")]
    [InlineData("ggml-vocab-mpt.gguf")]
    [InlineData("ggml-vocab-refact.gguf")]
    [InlineData("ggml-vocab-deepseek-coder.gguf")]
    [InlineData("ggml-vocab-llama-spm.gguf")]
    public void MatchesLlamaCppTestCases(string name)
    {
        string path = Fixtures.Require("tokenizers", "llama-cpp", name);
        var tok = Load("tokenizers", "llama-cpp", name);
        var cases = ReadCases(path);
        Assert.True(cases.Count > 40);
        var failures = new List<string>();
        foreach (var (text, expected) in cases)
        {
            var got = tok.Encode(text);
            if (!got.SequenceEqual(expected))
                failures.Add($"{Escape(text)}: expected [{string.Join(' ', expected)}] got [{string.Join(' ', got)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} cases differ:\n" + string.Join("\n", failures));
    }

    static string Escape(string s) => s.Replace("\n", "\\n").Replace("\t", "\\t").Replace("\r", "\\r");

    [Theory]
    [InlineData("ggml-vocab-gpt-2.gguf")]
    [InlineData("ggml-vocab-mpt.gguf")]
    [InlineData("ggml-vocab-refact.gguf")]
    [InlineData("ggml-vocab-deepseek-coder.gguf")]
    [InlineData("ggml-vocab-llama-spm.gguf")]
    [InlineData("ggml-vocab-baichuan.gguf")]
    [InlineData("ggml-vocab-gpt-neox.gguf")]
    public void DecodeRoundTrips(string name)
    {
        var tok = Load("tokenizers", "llama-cpp", name);
        foreach (var text in new[] { "Hello world", "The quick brown fox jumps over the lazy dog.", "def f(x):\n    return x * 2\n",
                     "Ünïcödé — 日本語のテキスト, 1234567", "emoji 🦙 and tabs\tend" })
        {
            var ids = tok.Encode(text);
            Assert.NotEmpty(ids);
            Assert.Equal(text, tok.Decode(ids));
        }
    }

    [Fact]
    public void AMissingPreNameMeansLlamaCppsDefaultSplitter()
    {
        var tok = Load("tokenizers", "llama-cpp", "ggml-vocab-gpt-neox.gguf");
        Assert.Equal("default", tok.Settings.Pre!.Name);
        // The default list ends with [0-9][0-9][0-9]: digit runs are cut into threes before merging.
        var ids = tok.Encode("1234567");
        Assert.Equal(tok.Encode("123").Concat(tok.Encode("456")).Concat(tok.Encode("7")), ids);
    }

    static readonly string[] ModelTexts =
    [
        "Hello world", " Hello  world ", "The LORD is my shepherd; I shall not want.", "In the beginning God created the heaven and the earth.",
        "it's, they're, we'll, I'm, you've, he'd — 'quoted'", "numbers 1 12 123 1234 3.14159 and 1,000,000",
        "tabs\tand\nnewlines\r\n\n\n  indented\n    more", "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
        "Ünïcödé — 日本語 Ελληνικά русский 🦙🚀", "   leading and trailing   ", "code: def f(x):\n    return x**2 # done",
        "<|endoftext|>", "a<|im_end|>b", "!!! ??? ... ,,, ;;;", "",
    ];

    [Theory]
    [InlineData("llama-a", "model-f32.gguf")]
    [InlineData("qwen2-a", "model-f32.gguf")]
    [InlineData("bloom-a", "model-f32.gguf")]
    [InlineData("kjv-llama", "model-f16.gguf")]
    public void FixtureModelsMatchTheirHuggingFaceTokenizer(string model, string gguf)
    {
        var tok = Load("models", model, gguf);
        var hf = Agora.Tokenization.Tokenizer.FromFolder(Fixtures.Require("models", model, "hf"));
        Assert.False(tok.Settings.AddBos);
        foreach (var text in ModelTexts)
        {
            // Hugging Face always matches its added tokens; llama.cpp matches control tokens when parse_special is set.
            Assert.Equal(hf.Encode(text, addSpecialTokens: false), tok.Encode(text, addSpecial: true, parseSpecial: true));
            if (!text.Contains(" ?") && !text.Contains(" ."))
                Assert.Equal(text, tok.Decode(tok.Encode(text)));
        }
        // gpt-2 vocabularies decode with llama.cpp's clean_spaces: no space before ?!., nor before 's 'm 're 've.
        Assert.Equal("!!!???...,,, ;;;", tok.Decode(tok.Encode("!!! ??? ... ,,, ;;;")));
        Assert.Equal("it's here, we're'ok", tok.Decode(tok.Encode("it 's here , we 're ' ok")));
        // The reference prompts' ids, without the BOS the Hugging Face post-processor adds.
        Assert.Equal(hf.Encode(ModelTexts[2]).Skip(1), tok.Encode(ModelTexts[2], addSpecial: true));
    }

    [Fact]
    public void SentencePieceAddsBosAndPrefixSpaceAfterSpecialTokens()
    {
        var tok = Load("tokenizers", "llama-cpp", "ggml-vocab-llama-spm.gguf");
        Assert.True(tok.Settings.Spm);
        Assert.Equal(1, tok.Special.Bos);
        var plain = tok.Encode("Hello");
        Assert.Equal([1, .. plain], tok.Encode("Hello", addSpecial: true));
        // "</s>" is a control token: text unless parse_special, then the id followed by a fresh prefix space.
        Assert.NotEqual(2, tok.Encode("</s>Hello")[0]);
        Assert.Equal([2, .. plain], tok.Encode("</s>Hello", parseSpecial: true));
    }
}
