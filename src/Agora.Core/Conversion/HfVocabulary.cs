using System.Text.Json;
using System.Text.RegularExpressions;
using Agora.Formats;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Tokenization;
using Agora.Tokenization.Gguf;
using static Agora.Conversion.HfJson;

namespace Agora.Conversion;

/// <summary>
/// The vocabulary of a GGUF file (<c>tokenizer.ggml.*</c>) built from a Hugging Face folder's tokenizer.json, as
/// llama.cpp's converter builds it:
/// <list type="bullet">
/// <item>byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM, BLOOM) becomes model "gpt2": one token per id up to the
/// config's vocab_size (missing ids as <c>[PAD{id}]</c>, unused), added tokens control or user-defined, the merges,
/// and the pre-tokenizer named by what it does (<see cref="HfPreTokenizerName"/>);</item>
/// <item>SentencePiece-style BPE with byte fallback (Llama 2, TinyLlama, Mistral) becomes model "llama", with
/// <c>&lt;0xXX&gt;</c> tokens as bytes and scores.</item>
/// </list>
/// The special tokens, the flags that add them and the chat template follow <see cref="HfSpecialTokens"/>.
/// Where this deliberately differs from llama.cpp (so that the file tokenizes as tokenizer.json does), the member
/// says so.
/// </summary>
static partial class HfVocabulary
{
    const string Prefix = "tokenizer.ggml.";

    /// <summary>A token of tokenizer.json's added_tokens (or tokenizer_config.json's added_tokens_decoder).</summary>
    internal sealed record HfAddedToken(int Id, string Content, bool Special);

    /// <param name="vocabSize">config.json's vocab_size: the rows of the embedding, which the token list must fill.</param>
    /// <param name="modelConfig">config.json, for the special token ids it gives.</param>
    public static List<KeyValuePair<string, GgufValue>> Metadata(string folder, ModelArchitecture architecture, int vocabSize, JsonElement modelConfig)
    {
        var path = Path.Combine(folder, "tokenizer.json");
        if (!File.Exists(path))
            throw new AgoraException($"{folder}: no tokenizer.json; converting to GGUF reads the Hugging Face tokenizer from it (a SentencePiece tokenizer.model alone is not read)");
        using var tokenizerJson = FormatJson.ReadFile(path, "tokenizer.json");
        var root = Object(path, tokenizerJson.RootElement, "the document");
        var configPath = Path.Combine(folder, "tokenizer_config.json");
        using var configJson = File.Exists(configPath) ? FormatJson.ReadFile(configPath, "tokenizer_config.json") : null;
        JsonElement? config = configJson is null ? null : Object(configPath, configJson.RootElement, "the document");

        var model = Object(path, Member(root, "model") ?? throw new AgoraFormatException(path, "'model' is missing"), "'model'");
        var type = String(path, model, "type") ?? "BPE";
        if (type != "BPE")
            throw new AgoraFormatException(path, $"the tokenizer model is {type}; only BPE tokenizers convert to GGUF (byte-level ones such as GPT-2, Llama 3 and Qwen, or SentencePiece-style ones with byte fallback such as Llama 2 and Mistral)");
        var vocab = ReadVocab(path, model);
        var added = ReadAddedTokens(path, root, configPath, config);
        var merges = ReadMerges(path, model);
        int largest = Math.Max(vocab.Count == 0 ? -1 : vocab.Keys.Max(), added.Count == 0 ? -1 : added.Keys.Max());
        if (largest >= vocabSize)
            throw new AgoraFormatException(path, $"token id {largest} is beyond config.json's vocab_size {vocabSize} (the rows of the embedding)");

        var entries = new List<KeyValuePair<string, GgufValue>>();
        void Add(string key, GgufValue value) => entries.Add(new(key, value));
        // llama.cpp's LLaMA converter writes the tokenizer's own add_prefix_space first.
        if (architecture == ModelArchitecture.Llama && config is { } c && c.TryGetProperty("add_prefix_space", out var prefix)
            && prefix.ValueKind is JsonValueKind.True or JsonValueKind.False)
            Add(Prefix + "add_space_prefix", GgufValue.Bool(prefix.GetBoolean()));

        bool sentencePiece = Bool(model, "byte_fallback") && Member(root, "decoder") is { } decoder
            && decoder.ValueKind == JsonValueKind.Object && String(path, decoder, "type") == "Sequence";
        int tokenCount;
        bool readerAddsBos; // what llama.cpp does for this vocabulary when the file does not say
        if (sentencePiece)
        {
            var (tokens, scores, types) = SentencePieceTokens(vocab, added, merges, vocabSize, NamedSpecialIds(config, vocab, added));
            tokenCount = tokens.Length;
            readerAddsBos = true;
            // Without a Prepend normalizer or a prepending Metaspace, tokenizer.json puts no '▁' in front of the text;
            // llama.cpp's default for a "llama" vocabulary is to put one, so say so (llama.cpp's converter does not).
            if (!config.HasValue || !config.Value.TryGetProperty("add_prefix_space", out _))
                if (!PrependsSpace(root)) Add(Prefix + "add_space_prefix", GgufValue.Bool(false));
            Add(Prefix + "model", GgufValue.String("llama"));
            Add(Prefix + "pre", GgufValue.String("default"));
            Add(Prefix + "tokens", GgufValue.StringArray(tokens));
            Add(Prefix + "scores", GgufValue.Float32Array(scores));
            Add(Prefix + "token_type", GgufValue.Int32Array(types));
        }
        else
        {
            var (tokens, types) = ByteLevelTokens(vocab, added, vocabSize);
            tokenCount = tokens.Length;
            var pre = HfPreTokenizerName.Of(path, root, model);
            readerAddsBos = LlamaCppPreTokenizers.Get(pre).AddBos;
            Add(Prefix + "model", GgufValue.String("gpt2"));
            Add(Prefix + "pre", GgufValue.String(pre));
            Add(Prefix + "tokens", GgufValue.StringArray(tokens));
            Add(Prefix + "token_type", GgufValue.Int32Array(types));
            // Spaces inside a merge's parts (tokenizers since 0.20 allow them) are spelled as GPT-2's byte alphabet does.
            Add(Prefix + "merges", GgufValue.StringArray(merges.Select(m => $"{m.Left.Replace(' ', 'Ġ')} {m.Right.Replace(' ', 'Ġ')}")));
        }
        HfSpecialTokens.Add(entries, folder, root, config, added, modelConfig, tokenCount, readerAddsBos);
        return entries;
    }

    /// <summary>
    /// Byte-level tokens and types as llama.cpp's get_vocab_base gives them: added tokens are control when special or
    /// when they look special (<c>&lt;|…|&gt;</c> and the like), else user-defined with '▁' spelled as a space.
    /// </summary>
    static (string[] Tokens, int[] Types) ByteLevelTokens(Dictionary<int, string> vocab, Dictionary<int, HfAddedToken> added, int vocabSize)
    {
        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        for (int id = 0; id < vocabSize; id++)
        {
            if (added.TryGetValue(id, out var a))
            {
                bool control = a.Special || LooksSpecial(a.Content);
                tokens[id] = control ? a.Content : a.Content.Replace('\u2581', ' ');
                types[id] = (int)(control ? TokenKind.Control : TokenKind.UserDefined);
            }
            else if (vocab.TryGetValue(id, out var text))
                (tokens[id], types[id]) = (text, (int)TokenKind.Normal);
            else
                (tokens[id], types[id]) = ($"[PAD{id}]", (int)TokenKind.Unused);
        }
        return (tokens, types);
    }

    /// <summary>
    /// SentencePiece-style tokens as llama.cpp's LlamaHfVocab gives them (<c>&lt;0xXX&gt;</c> tokens are bytes, special
    /// tokens control), padded to vocab_size with unused <c>[PAD{id}]</c> tokens as its SentencePiece path pads. Two
    /// things differ on purpose, so that the file tokenizes as tokenizer.json does: every other added token is
    /// user-defined (matched verbatim, '▁' spelled as a space, as llama.cpp's other paths do; LlamaHfVocab leaves
    /// those inside the model's vocabulary normal), and the scores: LlamaHfVocab gives every token -1000, which leaves
    /// llama.cpp's score-driven merging no order to follow, so here each normal token scores minus the rank of the
    /// first merge that makes it (tokenizer.json lists SentencePiece's merges best first), and tokens no merge makes
    /// score below all of those.
    /// </summary>
    static (string[] Tokens, float[] Scores, int[] Types) SentencePieceTokens(Dictionary<int, string> vocab,
        Dictionary<int, HfAddedToken> added, List<(string Left, string Right)> merges, int vocabSize, HashSet<int> namedSpecial)
    {
        var rank = new Dictionary<string, int>(merges.Count, StringComparer.Ordinal);
        for (int r = 0; r < merges.Count; r++) rank.TryAdd(merges[r].Left + merges[r].Right, r);
        float unmerged = -merges.Count, other = -merges.Count - 1;

        var tokens = new string[vocabSize];
        var scores = new float[vocabSize];
        var types = new int[vocabSize];
        for (int id = 0; id < vocabSize; id++)
        {
            string? text = added.TryGetValue(id, out var a) ? a.Content : vocab.GetValueOrDefault(id);
            TokenKind kind;
            if (text == null) (text, kind) = ($"[PAD{id}]", TokenKind.Unused);
            else if (ByteToken().IsMatch(text)) kind = TokenKind.Byte;
            else if (namedSpecial.Contains(id) || a is { Special: true }) kind = TokenKind.Control;
            else if (a != null) (text, kind) = (text.Replace('\u2581', ' '), TokenKind.UserDefined);
            else kind = TokenKind.Normal;
            tokens[id] = text;
            types[id] = (int)kind;
            scores[id] = kind != TokenKind.Normal ? other : rank.TryGetValue(text, out int r) ? -r : unmerged;
        }
        return (tokens, scores, types);
    }

    /// <summary>Whether the tokenizer puts '▁' before the text: a Prepend normalizer, or a Metaspace pre-tokenizer that prepends.</summary>
    static bool PrependsSpace(JsonElement root)
    {
        static bool Any(JsonElement? node, string list, Func<JsonElement, bool> test) => node switch
        {
            { ValueKind: JsonValueKind.Object } n when n.TryGetProperty(list, out var items) && items.ValueKind == JsonValueKind.Array =>
                items.EnumerateArray().Any(i => Any(i, list, test)),
            { ValueKind: JsonValueKind.Object } n => test(n),
            _ => false,
        };
        static string? Type(JsonElement n) => n.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        return Any(Member(root, "normalizer"), "normalizers", n => Type(n) == "Prepend")
            || Any(Member(root, "pre_tokenizer"), "pretokenizers", n => Type(n) == "Metaspace"
                && (n.TryGetProperty("prepend_scheme", out var s) && s.ValueKind == JsonValueKind.String
                    ? s.GetString() != "never"
                    : Bool(n, "add_prefix_space", fallback: true)));
    }

    /// <summary>
    /// Ids of the tokens tokenizer_config.json names (bos, eos, unk, sep, pad, cls, mask and its additional special
    /// tokens): transformers' all_special_ids, which llama.cpp's LlamaHfVocab makes control tokens.
    /// </summary>
    static HashSet<int> NamedSpecialIds(JsonElement? config, Dictionary<int, string> vocab, Dictionary<int, HfAddedToken> added)
    {
        var ids = new HashSet<int>();
        if (config is not { } c) return ids;
        var byText = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (id, text) in vocab) byText.TryAdd(text, id);
        foreach (var (id, token) in added) byText[token.Content] = id;
        var names = new List<string?>();
        foreach (var key in new[] { "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token" })
            names.Add(HfSpecialTokens.Content(c, key));
        if (c.TryGetProperty("additional_special_tokens", out var extra) && extra.ValueKind == JsonValueKind.Array)
            foreach (var item in extra.EnumerateArray())
                names.Add(item.ValueKind == JsonValueKind.String ? item.GetString()
                    : item.ValueKind == JsonValueKind.Object && item.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String ? content.GetString() : null);
        foreach (var name in names)
            if (name != null && byText.TryGetValue(name, out int id)) ids.Add(id);
        return ids;
    }

    /// <summary>llama.cpp's guess for added tokens that ought to be control tokens but are not marked special.</summary>
    static bool LooksSpecial(string token) =>
        token is "<pad>" or "<mask>" or "<2mass>" or "[@BOS@]"
        || (token.StartsWith("<|", StringComparison.Ordinal) && token.EndsWith("|>", StringComparison.Ordinal))
        || (token.StartsWith("<\uFF5C", StringComparison.Ordinal) && token.EndsWith("\uFF5C>", StringComparison.Ordinal))
        || (token.StartsWith("<unused", StringComparison.Ordinal) && token.EndsWith('>'));

    [GeneratedRegex("^<0x[0-9A-Fa-f]{2}>$")]
    private static partial Regex ByteToken();

    // ---- tokenizer.json ----

    static Dictionary<int, string> ReadVocab(string path, JsonElement model)
    {
        var node = Member(model, "vocab") is { ValueKind: JsonValueKind.Object } v ? v
            : throw new AgoraFormatException(path, "'model.vocab' is missing or not an object");
        var vocab = new Dictionary<int, string>();
        foreach (var entry in node.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw new AgoraFormatException(path, $"'model.vocab' gives \"{entry.Name}\" the id {entry.Value.GetRawText()}, not a token id");
            if (!vocab.TryAdd(id, entry.Name))
                throw new AgoraFormatException(path, $"'model.vocab' gives id {id} to both \"{vocab[id]}\" and \"{entry.Name}\"");
        }
        return vocab;
    }

    static List<(string Left, string Right)> ReadMerges(string path, JsonElement model)
    {
        var merges = new List<(string, string)>();
        if (Member(model, "merges") is not { } node) return merges;
        if (node.ValueKind != JsonValueKind.Array) throw new AgoraFormatException(path, "'model.merges' is not a list");
        int i = 0;
        foreach (var m in node.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.String && m.GetString()!.Split(' ') is [var left, var right])
                merges.Add((left, right));
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
                merges.Add((m[0].GetString()!, m[1].GetString()!));
            else
                throw new AgoraFormatException(path, $"'model.merges[{i}]' is neither \"a b\" nor [\"a\", \"b\"]");
            i++;
        }
        return merges;
    }

    /// <summary>tokenizer.json's added tokens, then those only tokenizer_config.json's added_tokens_decoder lists (transformers merges both).</summary>
    static Dictionary<int, HfAddedToken> ReadAddedTokens(string path, JsonElement root, string configPath, JsonElement? config)
    {
        var added = new Dictionary<int, HfAddedToken>();
        if (Member(root, "added_tokens") is { } list)
        {
            if (list.ValueKind != JsonValueKind.Array) throw new AgoraFormatException(path, "'added_tokens' is not a list");
            int i = 0;
            foreach (var t in list.EnumerateArray())
            {
                var token = ReadAddedToken(path, t, $"'added_tokens[{i++}]'", null);
                added[token.Id] = token;
            }
        }
        if (config is { } c && Member(c, "added_tokens_decoder") is { ValueKind: JsonValueKind.Object } decoder)
            foreach (var entry in decoder.EnumerateObject())
            {
                if (!int.TryParse(entry.Name, out int id) || id < 0)
                    throw new AgoraFormatException(configPath, $"'added_tokens_decoder' key \"{entry.Name}\" is not a token id");
                if (!added.ContainsKey(id)) added[id] = ReadAddedToken(configPath, entry.Value, $"'added_tokens_decoder.{entry.Name}'", id);
            }
        return added;
    }

    static HfAddedToken ReadAddedToken(string path, JsonElement t, string where, int? id)
    {
        if (t.ValueKind != JsonValueKind.Object) throw new AgoraFormatException(path, $"{where} is not an object");
        int tokenId = id ?? (Member(t, "id") is { ValueKind: JsonValueKind.Number } n && n.TryGetInt32(out int v) && v >= 0 ? v
            : throw new AgoraFormatException(path, $"{where} has no token id"));
        var content = String(path, t, "content") is { Length: > 0 } s ? s : throw new AgoraFormatException(path, $"{where} has no content");
        return new HfAddedToken(tokenId, content, Bool(t, "special"));
    }
}
