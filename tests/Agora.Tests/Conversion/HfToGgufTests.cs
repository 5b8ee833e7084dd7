using System.Text.Json;
using System.Text.Json.Nodes;
using Agora.Conversion;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Formats.Safetensors;
using Agora.Inference;
using Agora.Models;
using Agora.Templates;
using Agora.Tensors;
using Agora.Tensors.Quantization;
using Agora.Tests.Adapters;
using Agora.Tests.Cli;
using Agora.Tests.Models;
using Agora.Tokenization;
using Agora.Tokenization.Gguf;

namespace Agora.Tests.Conversion;

/// <summary>
/// Hugging Face folders converted to GGUF (<see cref="HfToGguf"/> through <see cref="ModelQuantizer"/>) against the
/// fixtures' files made by llama.cpp's converter: same metadata, same tensor bytes in the same order; and the result
/// loads, tokenizes as tokenizer.json does, chats and generates as the folder does.
/// </summary>
public class HfToGgufTests
{
    /// <summary>
    /// Keys the converted file has and llama.cpp's (Feb 2025) files lack, each justified:
    /// <c>tokenizer.ggml.add_bos_token</c> — tokenizer.json's post-processor puts BOS first; gguf-py reads that template
    /// since mid-2025 and writes the flag, so the GGUF tokenizer adds BOS as the Hugging Face one does;
    /// <c>tokenizer.chat_template</c> for qwen2-a — its template is only in chat_template.jinja, which gguf-py reads
    /// since the same time.
    /// </summary>
    static string[] ExtraKeys(string model) => model == "qwen2-a"
        ? ["tokenizer.ggml.add_bos_token", "tokenizer.chat_template"]
        : ["tokenizer.ggml.add_bos_token"];

    [Theory]
    [InlineData("llama-a", "model-f32.gguf", "F32")]
    [InlineData("qwen2-a", "model-f32.gguf", "F32")]
    [InlineData("bloom-a", "model-f32.gguf", "F32")]
    [InlineData("llama-a", "model-f16.gguf", "F16")]
    [InlineData("qwen2-a", "model-f16.gguf", "F16")]
    [InlineData("bloom-a", "model-f16.gguf", "F16")]
    [InlineData("kjv-llama", "model-f16.gguf", "F16")]
    public void ConversionMatchesLlamaCppsFile(string model, string file, string type)
    {
        var expectedPath = Fixtures.Require("models", model, file);
        using var output = new TempFile();
        ModelQuantizer.Quantize(Fixtures.Require("models", model, "hf"), output.Path, QuantizationScheme.Parse(type), threads: 2);

        using var expected = GgufFile.Open(expectedPath);
        using var converted = GgufFile.Open(output.Path);
        var extra = ExtraKeys(model);
        Assert.Equal(expected.Metadata.Keys, converted.Metadata.Keys.Where(k => !extra.Contains(k)));
        foreach (var (key, value) in expected.Metadata)
            Assert.True(value.Equals(converted.Metadata[key]), $"{key}: {value} in llama.cpp's file, {converted.Metadata[key]} converted");
        Assert.True(converted.GetBool("tokenizer.ggml.add_bos_token"));

        Assert.Equal(expected.Tensors.Select(t => t.Name), converted.Tensors.Select(t => t.Name));
        foreach (var (want, got) in expected.Tensors.Zip(converted.Tensors))
        {
            Assert.Equal(want.Type, got.Type);
            Assert.Equal(want.Shape, got.Shape);
            Assert.True(expected.TensorData(want).SequenceEqual(converted.TensorData(got)), $"{got.Name}: bytes differ");
        }
    }

    [Fact]
    public void Qwen2ChatTemplateComesFromTheJinjaFile()
    {
        var folder = Fixtures.Require("models", "qwen2-a", "hf");
        using var output = Convert("qwen2-a", QuantizationScheme.F32);
        using var gguf = GgufFile.Open(output.Path);
        Assert.Equal(File.ReadAllText(Path.Combine(folder, "chat_template.jinja")), gguf.GetString("tokenizer.chat_template"));
    }

    /// <summary>
    /// The converted file through Agora's GGUF readers: the same model config as the folder, its reference prompts
    /// tokenized to the reference ids (BOS included) and other texts as tokenizer.json tokenizes them, the same chat
    /// rendering, and the reference greedy continuations.
    /// </summary>
    [Theory]
    [InlineData("llama-a")]
    [InlineData("qwen2-a")]
    [InlineData("bloom-a")]
    [InlineData("kjv-llama")]
    public void ConvertedFileLoadsTokenizesChatsAndGeneratesAsTheFolder(string model)
    {
        var folder = Fixtures.Require("models", model, "hf");
        using var output = Convert(model, QuantizationScheme.F32);

        using (var hf = Checkpoint.Open(folder))
        using (var gguf = Checkpoint.Open(output.Path))
        {
            // BLOOM's converted file carries the tied embedding again as output.weight, so it reads as untied.
            var expected = model == "bloom-a" ? hf.Config with { TieWordEmbeddings = false } : hf.Config;
            Assert.Equal(expected, gguf.Config);
        }

        var tokenizer = TokenizerSource.Load(output.Path);
        var reference = Tokenizer.FromFolder(folder);
        var json = JsonNode.Parse(File.ReadAllText(Fixtures.Require("models", model, "reference.json")))!;
        foreach (var prompt in json["prompts"]!.AsArray())
            Assert.Equal(prompt!["ids"]!.AsArray().Select(v => (int)v!), tokenizer.Encode((string)prompt["text"]!));
        foreach (var text in new[] { "", "Hello world", "  two  spaces, tabs\tand\nnew lines\n\n", "I've been 'told he's there, 'RE you sure?",
                     "digits 3 33 333 3333 and 3.14", "Ünïcödé — 日本語 🦙", "<|im_start|>user\nHi<|im_end|>\n<|endoftext|>" })
            Assert.Equal(reference.Encode(text), tokenizer.Encode(text));

        using (var gguf = GgufFile.Open(output.Path))
        {
            var input = new ChatTemplateInput
            {
                Messages = JsonNode.Parse("""[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]""")!,
                AddGenerationPrompt = true,
            };
            Assert.Equal(ChatTemplate.FromFolder(folder)!.Render(input), ChatTemplate.FromGguf(gguf)!.Render(input));
        }

        using var checkpoint = Checkpoint.Open(output.Path);
        var engine = TransformerModel.Load(checkpoint);
        int compared = 0;
        foreach (var prompt in ModelReference.Load(model).Prompts.Where(p => p.GreedyMinMargin > 1e-3))
        {
            Assert.Equal(prompt.GreedyIds, ModelReference.Greedy(engine.CreateSession(), prompt.Ids, prompt.GreedyIds.Length));
            compared++;
        }
        Assert.True(compared >= 3, $"only {compared} prompts have a decisive margin");
    }

    /// <summary>Quantizing the folder gives the bytes of quantizing llama.cpp's F32 file: same rows, same mixture.</summary>
    [Theory]
    [InlineData("llama-a", "Q8_0")]
    [InlineData("llama-a", "Q4_K_M")]
    [InlineData("bloom-a", "Q5_K_M")]
    public void QuantizingTheFolderEqualsQuantizingTheF32File(string model, string type)
    {
        var scheme = QuantizationScheme.Parse(type);
        using var fromFolder = new TempFile();
        using var fromFile = new TempFile();
        var result = ModelQuantizer.Quantize(Fixtures.Require("models", model, "hf"), fromFolder.Path, scheme, threads: 2);
        ModelQuantizer.Quantize(Fixtures.Require("models", model, "model-f32.gguf"), fromFile.Path, scheme, threads: 2);

        using var a = GgufFile.Open(fromFile.Path);
        using var b = GgufFile.Open(fromFolder.Path);
        Assert.Equal(scheme.FileType, (uint)b.GetInt64("general.file_type"));
        Assert.Equal(a.Tensors.Select(t => (t.Name, t.Type)), b.Tensors.Select(t => (t.Name, t.Type)));
        Assert.Contains(b.Tensors, t => GgmlTypeInfo.IsQuantized(t.Type));
        foreach (var (x, y) in a.Tensors.Zip(b.Tensors))
            Assert.True(a.TensorData(x).SequenceEqual(b.TensorData(y)), $"{y.Name}: bytes differ");
        Assert.All(result.Tensors, t => Assert.Equal(GgmlType.F32, t.From));
    }

    /// <summary>Sharded weights are taken shard by shard (shards by file name), each shard's tensors by name, as the converter takes them.</summary>
    [Fact]
    public void ShardsAreTakenInTheConvertersOrder()
    {
        using var variant = new TokenizedHfVariant("llama-a", _ => { });
        File.Delete(Path.Combine(variant.Folder, "model.safetensors"));
        using (var source = SafetensorsFile.Open(Path.Combine(Fixtures.Require("models", "llama-a", "hf"), "model.safetensors")))
        {
            // Layer 1 and the final norm in the first shard, everything else in the second.
            var map = source.Tensors.ToDictionary(t => t.Name,
                t => t.Name.StartsWith("model.layers.1.") || t.Name == "model.norm.weight" ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
            foreach (var shard in map.Values.Distinct())
            {
                var writer = new SafetensorsWriter();
                foreach (var t in source.Tensors.Where(t => map[t.Name] == shard).Reverse()) writer.Add(source, t);
                writer.Write(Path.Combine(variant.Folder, shard));
            }
            SafetensorsIndex.Write(Path.Combine(variant.Folder, SafetensorsIndex.FileName), map, source.Tensors.Sum(t => t.ByteSize));
        }
        using var output = new TempFile();
        ModelQuantizer.Quantize(variant.Folder, output.Path, QuantizationScheme.F32, threads: 2);

        using var expected = GgufFile.Open(Fixtures.Require("models", "llama-a", "model-f32.gguf"));
        using var converted = GgufFile.Open(output.Path);
        var firstShard = expected.Tensors.Where(t => t.Name.StartsWith("blk.1.") || t.Name == "output_norm.weight");
        Assert.Equal([.. firstShard, .. expected.Tensors.Except(firstShard)], converted.Tensors.Select(t => expected.FindTensor(t.Name)));
        foreach (var t in converted.Tensors)
            Assert.True(expected.TensorData(expected.FindTensor(t.Name)!).SequenceEqual(converted.TensorData(t)), $"{t.Name}: bytes differ");
    }

    [Fact]
    public void Bf16KeepsVectorsInF32AndRoundsMatrices()
    {
        using var output = Convert("llama-a", QuantizationScheme.BF16);
        using var reference = GgufFile.Open(Fixtures.Require("models", "llama-a", "model-f32.gguf"));
        using var converted = GgufFile.Open(output.Path);
        Assert.Equal(32, converted.GetInt64("general.file_type"));
        foreach (var (f32, t) in reference.Tensors.Zip(converted.Tensors))
        {
            if (f32.Shape.Length == 1)
            {
                Assert.Equal(GgmlType.F32, t.Type);
                continue;
            }
            Assert.Equal(GgmlType.BF16, t.Type);
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(reference.TensorData(f32));
            var expected = new byte[values.Length * 2];
            Quants.Quantize(GgmlType.BF16, values, expected);
            Assert.True(converted.TensorData(t).SequenceEqual(expected), $"{t.Name}: bytes differ");
        }
    }

    /// <summary>
    /// Llama 3 rope scaling becomes the rope_freqs tensor (written first, as the converter writes it) and linear scaling
    /// two keys; either way the converted model computes the logits the folder computes.
    /// </summary>
    [Theory]
    [InlineData("llama3")]
    [InlineData("linear")]
    public void RopeScalingIsCarriedOver(string kind)
    {
        using var variant = new TokenizedHfVariant("llama-a", config => config["rope_scaling"] = kind == "llama3"
            ? JsonNode.Parse("""{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":64}""")
            : JsonNode.Parse("""{"type":"linear","factor":2.0}"""));
        using var output = new TempFile();
        ModelQuantizer.Quantize(variant.Folder, output.Path, QuantizationScheme.F32, threads: 2);

        using var hf = Checkpoint.Open(variant.Folder);
        using var gguf = Checkpoint.Open(output.Path);
        if (kind == "llama3")
        {
            Assert.Equal("rope_freqs.weight", gguf.Gguf!.Tensors[0].Name);
            Assert.Equal(RopeScalingKind.FrequencyFactors, gguf.Config.RopeScaling!.Kind);
            var factors = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(gguf.Gguf.TensorData(gguf.Gguf.Tensors[0])).ToArray();
            Assert.Equal(hf.Config.RopeScaling!.Llama3FrequencyFactors(32, 10000), factors);
            Assert.Contains(factors, f => f != 1);
        }
        else
        {
            Assert.Equal("linear", gguf.Gguf!.GetString("llama.rope.scaling.type"));
            Assert.Equal(hf.Config, gguf.Config);
        }
        int[] ids = [0, 315, 223, 430, 304, 17, 99, 250, 3, 41];
        var want = ModelReference.AllLogits(TransformerModel.Load(hf).CreateSession(), ids);
        var got = ModelReference.AllLogits(TransformerModel.Load(gguf).CreateSession(), ids);
        Assert.True(ModelReference.RelativeError(got, want) < 1e-5);
    }

    /// <summary>A Mistral-style sliding window, which llama.cpp's converter drops, is kept so the file attends alike.</summary>
    [Fact]
    public void SlidingWindowIsKept()
    {
        using var variant = new TokenizedHfVariant("llama-a", config =>
        {
            config["model_type"] = "mistral";
            config["sliding_window"] = 4;
        });
        using var output = new TempFile();
        ModelQuantizer.Quantize(variant.Folder, output.Path, QuantizationScheme.F32, threads: 2);
        using var hf = Checkpoint.Open(variant.Folder);
        using var gguf = Checkpoint.Open(output.Path);
        Assert.Equal("llama", gguf.Gguf!.GetString("general.architecture"));
        Assert.Equal(4, gguf.Config.SlidingWindow);
        Assert.Equal(hf.Config, gguf.Config);
    }

    // ---- vocabularies of real model families (tokenizer fixtures) ----

    /// <summary>A tokenizer folder's vocabulary alone (as a Llama model's), written as a GGUF file and read back.</summary>
    static GgufFile VocabularyFile(string folder, int vocabSize)
    {
        using var config = JsonDocument.Parse("{}");
        var writer = new GgufWriter();
        foreach (var (key, value) in HfVocabulary.Metadata(folder, ModelArchitecture.Llama, vocabSize, config.RootElement))
            writer.Add(key, value);
        using var output = new TempFile();
        writer.Write(output.Path);
        return GgufFile.Open(output.Path);
    }

    /// <summary>
    /// A tokenizer fixture's vocabulary through Agora's llama.cpp-rules tokenizer, against the Hugging Face ids of its
    /// test cases (with special tokens). Returns the texts that tokenize differently.
    /// </summary>
    static List<string> VocabularyMismatches(string family, out GgufFile file)
    {
        var folder = Fixtures.Require("tokenizers", family);
        file = VocabularyFile(folder, Tokenizer.FromFolder(folder).VocabSize);
        ITokenizer gguf = GgufTokenizerLoader.Load(file);
        var mismatches = new List<string>();
        foreach (var (text, expected) in Cases(family))
            if (!gguf.Encode(text).SequenceEqual(expected)) mismatches.Add(text);
        return mismatches;
    }

    /// <summary>The texts of a tokenizer fixture's cases with their Hugging Face ids (special tokens added).</summary>
    static List<(string Text, int[] Ids)> Cases(string family)
    {
        using var cases = JsonDocument.Parse(File.ReadAllText(Fixtures.Require("tokenizers", family, "cases.json")));
        var list = cases.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids_with_special").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToList();
        Assert.True(list.Count > 30);
        return list;
    }

    /// <summary>
    /// A SentencePiece-style tokenizer.json (the "llama2" fixture, Mistral's vocabulary) becomes a "llama" vocabulary
    /// that tokenizes every case alike. (Gemma 3's does too, all 39 cases, but its 262k-token vocabulary takes 9 s.)
    /// </summary>
    [Fact]
    public void SentencePieceVocabularyTokenizesAsTokenizerJson()
    {
        Assert.Empty(VocabularyMismatches("llama2", out var file));
        using (file)
        {
            Assert.Equal("llama", file.GetString("tokenizer.ggml.model"));
            Assert.Equal(file.GetStringArray("tokenizer.ggml.tokens").Length, file.GetFloat32Array("tokenizer.ggml.scores").Length);
            Assert.True(file.GetBool("tokenizer.ggml.add_bos_token"));
        }
    }

    /// <summary>
    /// Byte-level vocabularies get the llama.cpp pre-tokenizer that splits as theirs does. Llama 3's regex with
    /// ignore_merges is llama-bpe, and its file tokenizes every case as tokenizer.json does. Qwen3's regex is qwen2's,
    /// with one case that llama.cpp's own rules tokenize differently, and so does the converted file: Qwen's vocabulary
    /// holds a normal "&lt;/s&gt;" token that llama.cpp treats as control by its name.
    /// </summary>
    [Theory]
    [InlineData("qwen3", "qwen2", new[] { "<s> </s> <unk>" })]
    [InlineData("llama3", "llama-bpe", new string[0])]
    public void ByteLevelVocabulariesAreNamedByTheirSplits(string family, string pre, string[] llamaCppQuirks)
    {
        Assert.Equal(llamaCppQuirks, VocabularyMismatches(family, out var file));
        using (file)
        {
            Assert.Equal("gpt2", file.GetString("tokenizer.ggml.model"));
            Assert.Equal(pre, file.GetString("tokenizer.ggml.pre"));
            Assert.NotEmpty(file.GetStringArray("tokenizer.ggml.merges"));
        }
    }

    /// <summary>Texts whose words the families' splits cut differently (digit runs, contractions, scripts, punctuation, line breaks).</summary>
    static readonly string[] SplitProbes =
    [
        "1 12 123 1234 12345 3.14159", "I'VE he's THEY'RE we'Ll", "ÉCOLE École naïve e\u0301", "日本語とカタカナ、中文。한국어",
        "x.y,z!?… (a|b) [c] {d}", "a\n\nb\r\n  c  \t d   ", "foo_bar-baz/qux::quux()", "@user #tag $5 100% a+b=c",
    ];

    /// <summary>
    /// Each pre-tokenizer family of the naming table, put on Llama 3's vocabulary: named as llama.cpp's converter names
    /// that family, and the converted file tokenizes the cases and the texts that tell splits apart exactly as the
    /// tokenizer.json does (Agora's Hugging Face tokenizer): the name stands for what the tokenizer does. Texts beyond
    /// the BMP are left out: Agora's Hugging Face tokenizer runs Split regexes on UTF-16 units, where an astral symbol is
    /// no \p{S} (DeepSeek-V3's " ?[\p{P}\p{S}]+"); the real Hugging Face ids of the Llama 3 and Qwen3 fixtures above
    /// cover such texts.
    /// </summary>
    [Theory]
    [InlineData("gpt-2", false, """{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}""")]
    [InlineData("gpt-2", false, """
        {"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},
        {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}
        """)]
    [InlineData("llama-bpe", true, null)]
    [InlineData("smaug-bpe", false, null)]
    [InlineData("qwen2", false, """
        {"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},
        {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}]}
        """)]
    [InlineData("deepseek-v3", false, """
        {"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{N}{1,3}"},"behavior":"Isolated","invert":false},
        {"type":"Split","pattern":{"Regex":"[一-龥぀-ゟ゠-ヿ]+"},"behavior":"Isolated","invert":false},
        {"type":"Split","pattern":{"Regex":"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},
        {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}
        """)]
    [InlineData("starcoder", false, """
        {"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}]}
        """)]
    public void PreTokenizerFamiliesAreNamedByWhatTheyDo(string name, bool ignoreMerges, string? preTokenizer)
    {
        using var folder = Llama3VocabularyWith(preTokenizer, ignoreMerges);
        var hf = Tokenizer.FromFolder(folder.Path);
        using var file = VocabularyFile(folder.Path, hf.VocabSize);
        Assert.Equal(name, file.GetString("tokenizer.ggml.pre"));
        AssertTokenizesAlike(hf, file);
    }

    /// <summary>
    /// BLOOM's split, " ?[^(\s|[.,!?…。，、।۔،])]+", is named bloom. For Oniguruma its inner [...] is a nested class, a
    /// union, which Agora's Hugging Face tokenizer does not compile; the same set spelled flat stands in for it there.
    /// </summary>
    [Fact]
    public void BloomSplitIsNamedBloom()
    {
        const string split = """
            {"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"REGEX"},"behavior":"Isolated","invert":false},
            {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}
            """;
        using var folder = Llama3VocabularyWith(split.Replace("REGEX", @" ?[^(\\s|[.,!?…。，、।۔،])]+"), ignoreMerges: false);
        using var flat = Llama3VocabularyWith(split.Replace("REGEX", @" ?[^(\\s|.,!?…。，、।۔،)]+"), ignoreMerges: false);
        var hf = Tokenizer.FromFolder(flat.Path);
        using var file = VocabularyFile(folder.Path, hf.VocabSize);
        Assert.Equal("bloom", file.GetString("tokenizer.ggml.pre"));
        AssertTokenizesAlike(hf, file);
    }

    /// <summary>The Llama 3 fixture's tokenizer with another pre-tokenizer (null: its own) and ignore_merges, in a new folder.</summary>
    static TempFolder Llama3VocabularyWith(string? preTokenizer, bool ignoreMerges)
    {
        var folder = new TempFolder();
        var source = Fixtures.Require("tokenizers", "llama3");
        var tokenizer = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "tokenizer.json")))!;
        if (preTokenizer != null) tokenizer["pre_tokenizer"] = JsonNode.Parse(preTokenizer);
        tokenizer["model"]!["ignore_merges"] = ignoreMerges;
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer.json"), tokenizer.ToJsonString());
        File.Copy(Path.Combine(source, "tokenizer_config.json"), Path.Combine(folder.Path, "tokenizer_config.json"));
        return folder;
    }

    /// <summary>The Llama 3 cases' texts and <see cref="SplitProbes"/> within the BMP tokenize alike through both.</summary>
    static void AssertTokenizesAlike(Tokenizer hf, GgufFile file)
    {
        ITokenizer gguf = GgufTokenizerLoader.Load(file);
        foreach (var text in Cases("llama3").Select(c => c.Text).Concat(SplitProbes).Where(t => !t.Any(char.IsSurrogate)))
            Assert.True(hf.Encode(text).SequenceEqual(gguf.Encode(text)), $"'{text}' tokenizes differently");
    }

    // ---- the CLI and bad folders ----

    [Fact]
    public void CliQuantizesAFolder()
    {
        using var output = new TempFile();
        var r = CliRunner.Run("quantize", Fixtures.Require("models", "llama-a", "hf"), output.Path, "--type", "Q8_0", "-t", "2");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Matches(@"blk\.0\.attn_q\.weight\s+256×256\s+F32\s+Q8_0\s+69632", r.Out);
        Assert.Matches(@"output_norm\.weight\s+256\s+F32\s+F32\s+1024", r.Out);
        Assert.Contains("21 tensors: 7.00 MiB → ", r.Out);
        using var gguf = GgufFile.Open(output.Path);
        Assert.Equal(7, gguf.GetInt64("general.file_type"));
        Assert.Equal(GgmlType.Q8_0, gguf.FindTensor("token_embd.weight")!.Type);
    }

    [Fact]
    public void UnsupportedArchitectureIsRefusedWithoutOutput()
    {
        using var variant = new TokenizedHfVariant("llama-a", config => config["model_type"] = "gpt_neox");
        using var output = new TempFile();
        var error = Assert.ThrowsAny<AgoraException>(() => ModelQuantizer.Quantize(variant.Folder, output.Path, QuantizationScheme.Q8_0));
        Assert.Contains("model_type 'gpt_neox' is not supported", error.Message);
        Assert.False(File.Exists(output.Path));
    }

    [Theory]
    [InlineData("wordpiece", "only BPE tokenizers convert")]
    [InlineData("unknown-pre", @"splits with the regex '\p{N}{1,2}', which Agora knows from no llama.cpp pre-tokenizer")]
    [InlineData("lowercase", "normalizer Lowercase has no counterpart")]
    [InlineData("prefix-space", "puts a space before the text (add_prefix_space)")]
    [InlineData("ignore-merges", "no llama.cpp pre-tokenizer splits with [")]
    [InlineData("missing", "no tokenizer.json")]
    public void UnsupportedTokenizerIsRefusedWithoutOutput(string change, string message)
    {
        using var variant = new TokenizedHfVariant("llama-a", _ => { });
        var path = Path.Combine(variant.Folder, "tokenizer.json");
        var tokenizer = JsonNode.Parse(File.ReadAllText(path))!;
        File.Delete(path);
        if (change == "wordpiece") tokenizer["model"]!["type"] = "WordPiece";
        if (change == "unknown-pre")
            tokenizer["pre_tokenizer"] = JsonNode.Parse("""
                {"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{N}{1,2}"},"behavior":"Isolated","invert":false},
                {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}]}
                """);
        if (change == "lowercase") tokenizer["normalizer"] = JsonNode.Parse("""{"type":"Lowercase"}""");
        if (change == "prefix-space") tokenizer["pre_tokenizer"]!["add_prefix_space"] = true;
        if (change == "ignore-merges") tokenizer["model"]!["ignore_merges"] = true;
        if (change != "missing") File.WriteAllText(path, tokenizer.ToJsonString());

        using var output = new TempFile();
        var error = Assert.ThrowsAny<AgoraException>(() => ModelQuantizer.Quantize(variant.Folder, output.Path, QuantizationScheme.Q8_0));
        Assert.Contains(message, error.Message);
        Assert.False(File.Exists(output.Path));
    }

    static TempFile Convert(string model, QuantizationScheme scheme)
    {
        var output = new TempFile();
        ModelQuantizer.Quantize(Fixtures.Require("models", model, "hf"), output.Path, scheme, threads: 2);
        return output;
    }

    /// <summary>A fixture's folder with an edited config.json and its tokenizer files copied beside the linked weights.</summary>
    sealed class TokenizedHfVariant : IDisposable
    {
        readonly HfVariant variant;

        public string Folder => variant.Folder;

        public TokenizedHfVariant(string model, Action<JsonNode> editConfig)
        {
            variant = new HfVariant(model, editConfig);
            foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "chat_template.jinja" })
            {
                var source = Path.Combine(Fixtures.Require("models", model, "hf"), file);
                if (File.Exists(source)) File.Copy(source, Path.Combine(Folder, file));
            }
        }

        public void Dispose() => variant.Dispose();
    }
}
