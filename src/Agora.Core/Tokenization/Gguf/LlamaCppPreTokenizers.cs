namespace Agora.Tokenization.Gguf;

/// <summary>
/// What a <c>tokenizer.ggml.pre</c> value means to llama.cpp for a BPE vocabulary: its split patterns (see
/// <see cref="LlamaCppPreTokenizer"/>) and the vocabulary settings the name switches on.
/// </summary>
/// <param name="Name">The pre-tokenizer name as written in the file ("default" when the file names none).</param>
/// <param name="Patterns">Split patterns in llama.cpp's order, spelled for .NET with llama.cpp's meaning.</param>
/// <param name="CleanSpaces">Decoding removes the space before ?!., and before some contractions.</param>
/// <param name="IgnoreMerges">A word that is itself a token is emitted whole, without running the merges.</param>
/// <param name="AddBos">The default for adding BOS when the file has no <c>tokenizer.ggml.add_bos_token</c>.</param>
/// <param name="ByteEncode">Words go through GPT-2's byte-to-character table before the merges.</param>
/// <param name="EscapeWhitespace">Spaces become ▁ before the merges (SentencePiece-style BPE).</param>
/// <param name="NoBosToken">The name disables the BOS token.</param>
public sealed record LlamaCppPreTokenizerSpec(
    string Name,
    IReadOnlyList<string> Patterns,
    bool CleanSpaces = true,
    bool IgnoreMerges = false,
    bool AddBos = false,
    bool ByteEncode = true,
    bool EscapeWhitespace = false,
    bool NoBosToken = false);

/// <summary>The <c>tokenizer.ggml.pre</c> names llama.cpp knows, and what each stands for.</summary>
public static class LlamaCppPreTokenizers
{
    const string Gpt2 = LlamaCppPreTokenizer.Gpt2Pattern;
    const string Llama3 = LlamaCppPreTokenizer.Llama3Pattern;
    const string Contractions = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    const string Qwen2 = LlamaCppPreTokenizer.Qwen2Pattern;
    internal const string Bloom = @" ?[^(\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+";
    internal const string Cjk = @"[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+";
    const string DeepSeekCjk = @"[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+";
    internal const string DeepSeek3Words =
        @"[!""#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const string Gpt4o =
        @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+" + Contractions + "?" +
        @"|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*" + Contractions + "?" +
        @"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const string CasedWords =
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+" + Contractions + "?" +
        @"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*" + Contractions + "?";
    const string SpmLines = @"[^\n]+|[\n]+";

    // std::regex's \d and \b are ASCII-only; .NET's are not, so they are spelled out.
    const string AsciiWordBoundary = @"(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))";

    /// <summary>DeepSeek-LLM's cased-letter class; code points beyond U+FFFF are written as surrogate pairs for .NET.</summary>
    static readonly string DeepSeekLetters = RuneClass(
        "41-5A 61-7A B5 C0-D6 D8-F6 F8-1BA 1BC-1BF 1C4-293 295-2AF 370-373 376-377 37B-37D 37F 386 388-38A 38C 38E-3A1 " +
        "3A3-3F5 3F7-481 48A-52F 531-556 10A0-10C5 13A0-13F5 13F8-13FD 1C90-1CBA 1CBD-1CBF 1D00-1D2B 1D6B-1D77 1D79-1D9A " +
        "1E00-1F15 1F18-1F1D 1F20-1F45 1F48-1F4D 1F50-1F57 1F59 1F5B 1F5D 1F5F-1F7D 1F80-1FB4 1FB6-1FBC 1FBE 1FC2-1FC4 " +
        "1FC6-1FCC 1FD0-1FD3 1FD6-1FDB 1FE0-1FEC 1FF2-1FF4 1FF6-1FFC 2102 2107 210A-2113 2115 2119-211D 2124 2126 2128 " +
        "212A-212D 212F-2134 2139 213C-213F 2145-2149 214E 2183-2184 2C00-2C7B 2C7E-2CE4 2CEB-2CEE 2CF2-2CF3 A640-A66D " +
        "A680-A69B A722-A76F A771-A787 A78B-A78E AB70-ABBF FB00-FB06 FB13-FB17 FF21-FF3A FF41-FF5A 10400-1044F " +
        "104B0-104D3 104D8-104FB 10C80-10CB2 10CC0-10CF2 118A0-118DF 1E900-1E943");

    static readonly Dictionary<string, Func<string, LlamaCppPreTokenizerSpec>> Table = Build();

    /// <summary>Every name llama.cpp accepts for a BPE vocabulary.</summary>
    public static IEnumerable<string> Names => Table.Keys;

    /// <summary>
    /// The spec for a <c>tokenizer.ggml.pre</c> value; a missing value means llama.cpp's "default" (it warns that
    /// quality suffers). An unknown name is refused, as llama.cpp refuses it.
    /// </summary>
    public static LlamaCppPreTokenizerSpec Get(string? name)
    {
        if (string.IsNullOrEmpty(name)) name = "default";
        if (Table.TryGetValue(name, out var make)) return make(name);
        if (name is "kimi-k2")
            throw new AgoraException($"pre-tokenizer '{name}' (tokenizer.ggml.pre) is not supported: llama.cpp splits it with custom code Agora does not reproduce");
        throw new AgoraException($"unknown pre-tokenizer type '{name}' (tokenizer.ggml.pre); llama.cpp refuses it too");
    }

    static Dictionary<string, Func<string, LlamaCppPreTokenizerSpec>> Build()
    {
        var t = new Dictionary<string, Func<string, LlamaCppPreTokenizerSpec>>(StringComparer.Ordinal);
        void Add(string[] names, string[] patterns, bool cleanSpaces = true, bool ignoreMerges = false, bool addBos = false,
            bool byteEncode = true, bool escape = false, bool noBos = false)
        {
            foreach (var n in names)
                t.Add(n, name => new LlamaCppPreTokenizerSpec(name, patterns, cleanSpaces, ignoreMerges, addBos, byteEncode, escape, noBos));
        }

        Add(["default"], [@"[\p{P}\$\+<=>\^~\|]+", Gpt2, @"\p{N}+", "[0-9][0-9][0-9]"]);
        Add(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"],
            [Llama3], ignoreMerges: true, addBos: true);
        Add(["minicpm5"], [@"\p{N}{1,3}", Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
            ignoreMerges: true);
        Add(["deepseek-llm"],
            ["[\r\n]", @"\s?" + DeepSeekLetters + "+", @"\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+", @"\s+\z",
                DeepSeekCjk, @"\p{N}+"], cleanSpaces: false);
        Add(["deepseek-coder"], ["[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", DeepSeekCjk, @"\p{N}"], cleanSpaces: false);
        Add(["deepseek-v3", "hunyuan-dense", "hy_v4", "joyai-llm"], [@"\p{N}{1,3}", Cjk, DeepSeek3Words], cleanSpaces: false);
        Add(["spark2_5"],
            [@"\p{N}{1,3}", Cjk,
                @"[!""#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+",
                @"\p{N}"], cleanSpaces: false);
        Add(["youtu"],
            [@"[\uAC00-\uD7A3\u3131-\u318E]+|[\uFF01\u2026\u201C\u201D\u2018\u2019\u2014\uFF1A\uFF1B\uFF0C\u3001-\u303F\uFE30-\uFE4F]+|[\u3105-\u312F]+|" + Cjk,
                CasedWords + @"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"], cleanSpaces: false, ignoreMerges: true);
        Add(["falcon"], [@"[\p{P}\$\+<=>\^~\|`]+", Gpt2, "[0-9][0-9][0-9]"]);
        Add(["starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"], [@"\p{N}", Gpt2]);
        Add(["command-r", "smollm"], [@"\p{N}", Gpt2], cleanSpaces: false);
        Add(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
            "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais"], [Gpt2]);
        Add(["trillion", "granite-docling"], [Gpt2], cleanSpaces: false);
        Add(["jais-2"],
            [Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+" +
                @"|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}"]);
        Add(["gemma4", "granite-embed-multi-311m"], [SpmLines], byteEncode: false, escape: true);
        Add(["sarvam-moe"], [SpmLines], cleanSpaces: false, byteEncode: false, escape: true);
        Add(["whitespace"], [@"\S+"], byteEncode: false);
        Add(["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2"], [Qwen2], cleanSpaces: false);
        Add(["stablelm2", "megrez"], [Qwen2]);
        Add(["qwen35"],
            [Contractions + @"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"], cleanSpaces: false);
        Add(["dbrx", "smaug-bpe"], [Llama3]);
        Add(["glm4", "chatglm-bpe"], [Llama3], noBos: true);
        Add(["poro-chat"], [Bloom], cleanSpaces: false);
        Add(["bloom", "gpt3-finnish"], [Bloom]);
        Add(["viking"], [Bloom, @"\p{N}"], cleanSpaces: false);
        Add(["tekken"],
            [@"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*" +
                @"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"], cleanSpaces: false, ignoreMerges: true, addBos: true);
        Add(["exaone-moe"],
            [Contractions + @"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"]);
        Add(["chameleon"],
            ["<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\t\n]|    |  )", @"\p{N}", @"[\p{P}!-/:-@\[-`{-~]", Gpt2],
            cleanSpaces: false, addBos: true);
        Add(["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"], [Gpt4o], cleanSpaces: false);
        Add(["granite-embed-multi-97m"], [Gpt4o.Replace(@"(?=[\p{L}])", @"(?=[\p{L}\p{M}])")], cleanSpaces: false, ignoreMerges: true);
        Add(["tiny_aya", "cohere2moe"],
            ["[0-9]{1,3}(?=(?:[0-9]{3})*" + AsciiWordBoundary + ")",
                CasedWords + @"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"], cleanSpaces: false);
        Add(["superbpe"], [@"\p{N}+", "(?=([0-9]{3})+(?![0-9]))"], cleanSpaces: false);
        Add(["bailingmoe", "bailingmoe2", "llada-moe"],
            [@"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"],
            cleanSpaces: false);
        Add(["seed-coder"],
            [Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"], cleanSpaces: false);
        Add(["ufakzeka"], [@"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"], cleanSpaces: false);
        Add(["afmoe"],
            [LlamaCppPreTokenizer.AfmoeDigits,
                @"[\u4E00-\u9FFF\u3400-\u4DBF\uF900-\uFAFF\u3040-\u309F\u30A0-\u30FF\uFF65-\uFF9F\u2F00-\u2FDF\u0E40-\u0E7F\u0E80-\u0EFF\u1780-\u17FF\u1000-\u109F\uAA60-\uAA7F\uA9E0-\uA9FF\uAC00-\uD7AF\u1100-\u11FF]+",
                DeepSeek3Words], cleanSpaces: false);
        Add(["laguna"], [SpmLines, Qwen2], cleanSpaces: false);
        return t;
    }

    /// <summary>A .NET pattern matching one code point in the given hex ranges (UTF-16 text, so astral ones as pairs).</summary>
    static string RuneClass(string hexRanges)
    {
        var bmp = new System.Text.StringBuilder("[");
        var astral = new List<string>();
        foreach (var item in hexRanges.Split(' '))
        {
            var ends = item.Split('-');
            int lo = Convert.ToInt32(ends[0], 16), hi = Convert.ToInt32(ends[^1], 16);
            if (hi < 0x10000) { bmp.Append($"\\u{lo:X4}-\\u{hi:X4}"); continue; }
            // Every astral range here lies within one high surrogate.
            var a = new System.Text.Rune(lo).ToString();
            var b = new System.Text.Rune(hi).ToString();
            if (a[0] != b[0]) throw new InvalidOperationException("range spans high surrogates");
            astral.Add($"\\u{(int)a[0]:X4}[\\u{(int)a[1]:X4}-\\u{(int)b[1]:X4}]");
        }
        return "(?:" + bmp + "]|" + string.Join("|", astral) + ")";
    }
}
