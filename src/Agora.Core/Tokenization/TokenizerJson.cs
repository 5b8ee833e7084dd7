using System.Text;
using System.Text.Json;

namespace Agora.Tokenization;

public sealed partial class Tokenizer
{
    /// <summary>Loads a Hugging Face tokenizer.json, with tokenizer_config.json for the special tokens when given.</summary>
    public static Tokenizer FromFile(string tokenizerJsonPath, string? tokenizerConfigPath = null) =>
        new TokenizerJson(tokenizerJsonPath, tokenizerConfigPath).Load();

    /// <summary>Loads tokenizer.json and, if present, tokenizer_config.json from a model folder.</summary>
    public static Tokenizer FromFolder(string dir)
    {
        var json = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(json)) throw new AgoraException($"{dir}: no tokenizer.json in this folder");
        var config = Path.Combine(dir, "tokenizer_config.json");
        return FromFile(json, File.Exists(config) ? config : null);
    }
}

/// <summary>
/// Reads tokenizer.json into the tokenizer's parts. Every malformed or unsupported piece becomes one
/// <see cref="AgoraFormatException"/> naming the file and, as a JSON path, where the problem is.
/// </summary>
sealed class TokenizerJson
{
    readonly string path;
    readonly string? configPath;
    string _file;

    public TokenizerJson(string path, string? configPath)
    {
        this.path = _file = path;
        this.configPath = configPath;
    }

    Exception Fail(string problem) => new AgoraFormatException(_file, problem);

    public Tokenizer Load()
    {
        try { return LoadChecked(); }
        catch (InvalidOperationException e) { throw Fail($"malformed JSON value: {e.Message}"); }
    }

    Tokenizer LoadChecked()
    {
        using var doc = Parse(path);
        var root = Object(doc.RootElement, "the document");
        var model = Object(Required(root, "model"), "model");
        var added = ReadAddedTokens(root);
        var (vocab, bpe) = ReadModel(model, added.Count);

        int size = vocab.Count == 0 ? 0 : vocab.Values.Max() + 1;
        foreach (var t in added)
        {
            if (t.Id >= vocab.Count + added.Count)
                throw Fail($"added token \"{t.Content}\" has id {t.Id}, far beyond the {vocab.Count} + {added.Count} tokens");
            size = Math.Max(size, t.Id + 1);
        }
        var idToToken = new string[size];
        foreach (var (text, id) in vocab) idToToken[id] = text;
        foreach (var t in added) idToToken[t.Id] = t.Content;
        for (int i = 0; i < size; i++) idToToken[i] ??= "";

        var normalizer = Optional(root, "normalizer") is { } n ? ReadNormalizer(n, "normalizer") : null;
        var preTokenizer = Optional(root, "pre_tokenizer") is { } p ? ReadPreTokenizer(p, "pre_tokenizer") : null;
        int[] prefix = [], suffix = [];
        if (Optional(root, "post_processor") is { } pp) ReadPostProcessor(pp, "post_processor", idToToken.Length, ref prefix, ref suffix);
        var decoders = Optional(root, "decoder") is { } d ? ReadDecoder(d, "decoder").ToArray() : null;

        int? Find(string? text) => text == null ? null
            : added.FirstOrDefault(t => t.Content == text) is { } a ? a.Id
            : vocab.TryGetValue(text, out var id) ? id : null;

        int? bos = prefix.Length > 0 ? prefix[0] : null, eos = null, pad = null;
        int? unk = Find(bpe.UnkToken);
        if (configPath != null)
        {
            _file = configPath;
            using var cdoc = Parse(configPath);
            var config = Object(cdoc.RootElement, "the document");
            if (Optional(config, "added_tokens_decoder") is { } atd)
                foreach (var prop in Object(atd, "added_tokens_decoder").EnumerateObject())
                {
                    if (!int.TryParse(prop.Name, out int id) || (uint)id >= (uint)idToToken.Length)
                        throw Fail($"added_tokens_decoder: \"{prop.Name}\" is not a token id of this vocabulary");
                    if (added.Any(t => t.Id == id)) continue;
                    var t = ReadAddedToken(prop.Value, $"added_tokens_decoder.{prop.Name}", id);
                    if (t.Content != idToToken[id]) throw Fail($"added_tokens_decoder.{prop.Name}: \"{t.Content}\" is not the text of token {id}");
                    added.Add(t);
                }
            int? Special(string key)
            {
                var text = TokenContent(Optional(config, key), key);
                if (text == null) return null;
                return Find(text) ?? throw Fail($"{key} \"{text}\" is not in the vocabulary");
            }
            bos = Special("bos_token");
            eos = Special("eos_token");
            pad = Special("pad_token");
            unk = Special("unk_token") ?? unk;
            // transformers rebuilds the post-processor from these flags when they are given
            if (Optional(config, "add_bos_token") is { } ab)
                prefix = Bool(ab, "add_bos_token") ? [bos ?? throw Fail("add_bos_token is true but there is no bos_token")] : [];
            if (Optional(config, "add_eos_token") is { } ae)
                suffix = Bool(ae, "add_eos_token") ? [eos ?? throw Fail("add_eos_token is true but there is no eos_token")] : [];
            _file = path;
        }
        int? eot = null;
        foreach (var name in (string[])["<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|eot|>"])
            if (added.FirstOrDefault(t => t.Content == name && t.Special) is { } t) { eot = t.Id; break; }

        var bpeModel = new BpeModel(vocab, bpe.Merges, bpe.Options, Fail);
        return new Tokenizer(new Tokenizer.Pipeline(path, bpeModel, idToToken, added, normalizer, preTokenizer,
            prefix, suffix, decoders, bos, eos, eot, pad, unk));
    }

    JsonDocument Parse(string file)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgoraException($"{file}: cannot read: {e.Message}");
        }
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 128 });
        }
        catch (JsonException e)
        {
            throw new AgoraFormatException(file, $"not valid JSON (line {(e.LineNumber ?? 0) + 1}, byte {e.BytePositionInLine ?? 0} of the line): {e.Message.Split(" LineNumber")[0]}");
        }
    }

    record BpeParts(List<BpeMerge> Merges, BpeOptions Options)
    {
        public string? UnkToken => Options.UnkToken;
    }

    /// <param name="addedCount">Added tokens may fill holes in the model's ids, so ids may reach this far beyond.</param>
    (Dictionary<string, int>, BpeParts) ReadModel(JsonElement model, int addedCount)
    {
        string type = Optional(model, "type") is { } t ? String(t, "model.type") : "BPE";
        if (type != "BPE")
            throw Fail(type is "Unigram" or "WordPiece" or "WordLevel"
                ? $"model type {type} is not supported (only BPE tokenizers are)"
                : $"model type \"{type}\" is unknown");
        if (Optional(model, "dropout") is { } dropout && Number(dropout, "model.dropout") != 0)
            throw Fail("model.dropout: BPE dropout is not supported (it makes encoding random)");

        var vocabEl = Object(Required(model, "vocab"), "model.vocab");
        var vocab = new Dictionary<string, int>();
        foreach (var prop in vocabEl.EnumerateObject())
        {
            int id = Int(prop.Value, $"model.vocab[\"{prop.Name}\"]");
            if (id < 0 || id > 16_777_216) throw Fail($"model.vocab[\"{prop.Name}\"]: id {id} is out of range");
            vocab[prop.Name] = id;
        }
        var ids = new bool[vocab.Count + addedCount];
        foreach (var (text, id) in vocab)
        {
            if (id >= ids.Length) throw Fail($"model.vocab: \"{text}\" has id {id} but there are only {vocab.Count} tokens and {addedCount} added tokens");
            if (ids[id]) throw Fail($"model.vocab: id {id} is given to two tokens");
            ids[id] = true;
        }

        var merges = new List<BpeMerge>();
        if (Optional(model, "merges") is { } mergesEl)
        {
            if (mergesEl.ValueKind != JsonValueKind.Array) throw Fail("model.merges is not a list");
            int i = 0;
            foreach (var m in mergesEl.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.String)
                {
                    string line = m.GetString()!;
                    int space = line.IndexOf(' ');
                    if (space < 0 || line.IndexOf(' ', space + 1) >= 0) throw Fail($"model.merges[{i}]: \"{line}\" is not two tokens separated by one space");
                    merges.Add(new BpeMerge(line, space));
                }
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                    merges.Add(BpeMerge.Of(String(m[0], $"model.merges[{i}][0]"), String(m[1], $"model.merges[{i}][1]")));
                else throw Fail($"model.merges[{i}] is neither \"a b\" nor [\"a\", \"b\"]");
                i++;
            }
        }
        var options = new BpeOptions
        {
            UnkToken = OptionalString(model, "unk_token", "model"),
            FuseUnk = OptionalBool(model, "fuse_unk", "model"),
            ByteFallback = OptionalBool(model, "byte_fallback", "model"),
            IgnoreMerges = OptionalBool(model, "ignore_merges", "model"),
            ContinuingSubwordPrefix = OptionalString(model, "continuing_subword_prefix", "model") ?? "",
            EndOfWordSuffix = OptionalString(model, "end_of_word_suffix", "model") ?? "",
        };
        if (options.UnkToken != null && !vocab.ContainsKey(options.UnkToken))
            throw Fail($"model.unk_token \"{options.UnkToken}\" is not in the vocabulary");
        return (vocab, new BpeParts(merges, options));
    }

    List<AddedToken> ReadAddedTokens(JsonElement root)
    {
        var list = new List<AddedToken>();
        if (Optional(root, "added_tokens") is not { } el) return list;
        if (el.ValueKind != JsonValueKind.Array) throw Fail("added_tokens is not a list");
        int i = 0;
        foreach (var t in el.EnumerateArray())
        {
            var where = $"added_tokens[{i++}]";
            int id = Int(Required(Object(t, where), "id", where), where + ".id");
            if (id < 0 || id > 16_777_216) throw Fail($"{where}.id {id} is out of range");
            list.Add(ReadAddedToken(t, where, id));
        }
        return list;
    }

    AddedToken ReadAddedToken(JsonElement t, string where, int id)
    {
        Object(t, where);
        var content = String(Required(t, "content", where), where + ".content");
        if (content.Length == 0) throw Fail($"{where}.content is empty");
        return new AddedToken(content, id,
            Special: OptionalBool(t, "special", where),
            SingleWord: OptionalBool(t, "single_word", where),
            LStrip: OptionalBool(t, "lstrip", where),
            RStrip: OptionalBool(t, "rstrip", where),
            Normalized: Optional(t, "normalized") is { } nz ? Bool(nz, where + ".normalized") : !OptionalBool(t, "special", where));
    }

    /// <summary>A special token in tokenizer_config.json: a string, an AddedToken object ({"content": …}), or null.</summary>
    string? TokenContent(JsonElement? el, string where) => el switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Object } o => String(Required(o, "content", where), where + ".content"),
        _ => throw Fail($"{where} is neither a string nor a token object"),
    };

    Normalizer ReadNormalizer(JsonElement el, string where)
    {
        var type = Type(el, where);
        return type switch
        {
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "Lowercase" => new LowercaseNormalizer(),
            "StripAccents" => new StripAccentsNormalizer(),
            "Strip" => new StripNormalizer(OptionalBool(el, "strip_left", where, true), OptionalBool(el, "strip_right", where, true)),
            "Replace" => new ReplaceNormalizer(Pattern(Required(el, "pattern", where), where + ".pattern"), String(Required(el, "content", where), where + ".content")),
            "Prepend" => new PrependNormalizer(String(Required(el, "prepend", where), where + ".prepend")),
            "Sequence" => new SequenceNormalizer(List(el, "normalizers", where).Select((n, i) => ReadNormalizer(n, $"{where}.normalizers[{i}]")).ToList()),
            _ => throw Fail($"{where}: normalizer type \"{type}\" is not supported"),
        };
    }

    PreTokenizer ReadPreTokenizer(JsonElement el, string where)
    {
        var type = Type(el, where);
        switch (type)
        {
            case "Split":
            {
                var patternEl = Object(Required(el, "pattern", where), where + ".pattern");
                IMatcher matcher = Optional(patternEl, "Regex") is { } rx
                    ? RegexMatcher(String(rx, where + ".pattern.Regex"), where)
                    : new TextPatternMatcher(Pattern(patternEl, where + ".pattern"));
                return new SplitPreTokenizer(matcher, Behavior(Required(el, "behavior", where), where + ".behavior"), OptionalBool(el, "invert", where));
            }
            case "ByteLevel":
                return new ByteLevelPreTokenizer(OptionalBool(el, "add_prefix_space", where), OptionalBool(el, "use_regex", where, true));
            case "Metaspace":
                return new MetaspacePreTokenizer(Replacement(el, where), Scheme(el, where), OptionalBool(el, "split", where, true));
            case "Digits":
                return PreTokenizers.Digits(OptionalBool(el, "individual_digits", where));
            case "Whitespace":
                return PreTokenizers.Whitespace();
            case "WhitespaceSplit":
                return PreTokenizers.WhitespaceSplit();
            case "BertPreTokenizer":
                return PreTokenizers.Bert();
            case "Punctuation":
                return PreTokenizers.Punctuation(Optional(el, "behavior") is { } b ? Behavior(b, where + ".behavior") : SplitBehavior.Isolated);
            case "CharDelimiterSplit":
                return new SplitPreTokenizer(new TextPatternMatcher(TextPattern.Literal(String(Required(el, "delimiter", where), where + ".delimiter"))), SplitBehavior.Removed, false);
            case "Sequence":
            {
                var steps = List(el, "pretokenizers", where).Select((p, i) => ReadPreTokenizer(p, $"{where}.pretokenizers[{i}]")).ToList();
                int byteLevel = steps.FindIndex(s => s is ByteLevelPreTokenizer);
                if (byteLevel >= 0 && steps.Skip(byteLevel + 1).Any(s => s is not ByteLevelPreTokenizer))
                    throw Fail($"{where}: a pre-tokenizer after ByteLevel is not supported");
                return new SequencePreTokenizer(steps);
            }
            default:
                throw Fail($"{where}: pre-tokenizer type \"{type}\" is not supported");
        }
    }

    IMatcher RegexMatcher(string pattern, string where)
    {
        try { return Tokenizer.SplitMatcher(pattern); }
        catch (ArgumentException e) { throw Fail($"{where}: the regex does not compile: {e.Message}"); }
    }

    void ReadPostProcessor(JsonElement el, string where, int vocabSize, ref int[] prefix, ref int[] suffix)
    {
        var type = Type(el, where);
        switch (type)
        {
            case "ByteLevel":
                return;
            case "TemplateProcessing":
            {
                var specials = new Dictionary<string, int[]>();
                if (Optional(el, "special_tokens") is { } st)
                    foreach (var prop in Object(st, where + ".special_tokens").EnumerateObject())
                    {
                        var w = $"{where}.special_tokens[\"{prop.Name}\"]";
                        var ids = List(prop.Value, "ids", w).Select((x, i) => Int(x, $"{w}.ids[{i}]")).ToArray();
                        foreach (var id in ids) if ((uint)id >= (uint)vocabSize) throw Fail($"{w}: id {id} is outside the vocabulary");
                        specials[prop.Name] = ids;
                    }
                var pre = new List<int>();
                var post = new List<int>();
                bool seenSequence = false;
                int i = 0;
                foreach (var item in List(el, "single", where))
                {
                    var w = $"{where}.single[{i++}]";
                    Object(item, w);
                    if (Optional(item, "Sequence") is { } seq)
                    {
                        if (seenSequence) throw Fail($"{w}: the single template names a sequence twice");
                        var seqId = String(Required(Object(seq, w + ".Sequence"), "id", w + ".Sequence"), w + ".Sequence.id");
                        if (seqId != "A") throw Fail($"{w}: the single template names sequence {seqId}");
                        seenSequence = true;
                    }
                    else if (Optional(item, "SpecialToken") is { } sp)
                    {
                        var name = String(Required(Object(sp, w + ".SpecialToken"), "id", w + ".SpecialToken"), w + ".SpecialToken.id");
                        if (!specials.TryGetValue(name, out var ids)) throw Fail($"{w}: special token \"{name}\" is not in special_tokens");
                        (seenSequence ? post : pre).AddRange(ids);
                    }
                    else throw Fail($"{w} is neither a Sequence nor a SpecialToken");
                }
                if (!seenSequence) throw Fail($"{where}.single does not contain the sequence");
                prefix = [.. pre, .. prefix];
                suffix = [.. suffix, .. post];
                return;
            }
            case "RobertaProcessing" or "BertProcessing":
            {
                int Token(string key)
                {
                    var pair = Required(el, key, where);
                    if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2) throw Fail($"{where}.{key} is not [token, id]");
                    int id = Int(pair[1], $"{where}.{key}[1]");
                    if ((uint)id >= (uint)vocabSize) throw Fail($"{where}.{key}: id {id} is outside the vocabulary");
                    return id;
                }
                prefix = [Token("cls"), .. prefix];
                suffix = [.. suffix, Token("sep")];
                return;
            }
            case "Sequence":
            {
                int i = 0;
                foreach (var p in List(el, "processors", where)) ReadPostProcessor(p, $"{where}.processors[{i++}]", vocabSize, ref prefix, ref suffix);
                return;
            }
            default:
                throw Fail($"{where}: post-processor type \"{type}\" is not supported");
        }
    }

    IEnumerable<TokenDecoder> ReadDecoder(JsonElement el, string where)
    {
        var type = Type(el, where);
        switch (type)
        {
            case "ByteLevel": return [new ByteLevelDecoder()];
            case "ByteFallback": return [new ByteFallbackDecoder()];
            case "Fuse": return [new FuseDecoder()];
            case "Replace":
                return [new ReplaceDecoder(Pattern(Required(el, "pattern", where), where + ".pattern"), String(Required(el, "content", where), where + ".content"))];
            case "Strip":
            {
                var content = String(Required(el, "content", where), where + ".content");
                if (content.Length != 1) throw Fail($"{where}.content must be one character");
                int start = Int(Required(el, "start", where), where + ".start"), stop = Int(Required(el, "stop", where), where + ".stop");
                if (start < 0 || stop < 0) throw Fail($"{where}: negative start or stop");
                return [new StripDecoder(content[0], start, stop)];
            }
            case "Metaspace":
                return [new MetaspaceDecoder(Replacement(el, where), Scheme(el, where) != PrependScheme.Never)];
            case "Sequence":
                return List(el, "decoders", where).SelectMany((d, i) => ReadDecoder(d, $"{where}.decoders[{i}]")).ToList();
            default:
                throw Fail($"{where}: decoder type \"{type}\" is not supported");
        }
    }

    char Replacement(JsonElement el, string where)
    {
        var r = OptionalString(el, "replacement", where) ?? "\u2581";
        if (r.Length != 1) throw Fail($"{where}.replacement must be one character");
        return r[0];
    }

    PrependScheme Scheme(JsonElement el, string where)
    {
        if (Optional(el, "prepend_scheme") is { } s)
            return String(s, where + ".prepend_scheme") switch
            {
                "always" => PrependScheme.Always,
                "first" => PrependScheme.First,
                "never" => PrependScheme.Never,
                var other => throw Fail($"{where}.prepend_scheme \"{other}\" is unknown"),
            };
        return OptionalBool(el, "add_prefix_space", where, true) ? PrependScheme.Always : PrependScheme.Never;
    }

    SplitBehavior Behavior(JsonElement el, string where) => String(el, where) switch
    {
        "Removed" => SplitBehavior.Removed,
        "Isolated" => SplitBehavior.Isolated,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        var other => throw Fail($"{where}: split behaviour \"{other}\" is unknown"),
    };

    TextPattern Pattern(JsonElement el, string where)
    {
        Object(el, where);
        if (Optional(el, "String") is { } s) return TextPattern.Literal(String(s, where + ".String"));
        if (Optional(el, "Regex") is { } r)
        {
            try { return TextPattern.FromRegex(String(r, where + ".Regex")); }
            catch (ArgumentException e) { throw Fail($"{where}: the regex does not compile: {e.Message}"); }
        }
        throw Fail($"{where} is neither {{\"String\": …}} nor {{\"Regex\": …}}");
    }

    // JSON shape helpers: each names the JSON path of what is wrong.

    string Type(JsonElement el, string where) => String(Required(Object(el, where), "type", where), where + ".type");

    JsonElement Object(JsonElement el, string where) =>
        el.ValueKind == JsonValueKind.Object ? el : throw Fail($"{where} is not an object");

    JsonElement Required(JsonElement obj, string name, string? where = null) =>
        Optional(obj, name) ?? throw Fail($"{(where == null ? "" : where + ": ")}\"{name}\" is missing");

    static JsonElement? Optional(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    IEnumerable<JsonElement> List(JsonElement obj, string name, string where)
    {
        var el = Required(obj, name, where);
        return el.ValueKind == JsonValueKind.Array ? el.EnumerateArray() : throw Fail($"{where}.{name} is not a list");
    }

    string String(JsonElement el, string where) =>
        el.ValueKind == JsonValueKind.String ? el.GetString()! : throw Fail($"{where} is not a string");

    bool Bool(JsonElement el, string where) => el.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Fail($"{where} is not true or false"),
    };

    int Int(JsonElement el, string where) =>
        el.ValueKind == JsonValueKind.Number && el.TryGetInt32(out var v) ? v : throw Fail($"{where} is not an integer");

    double Number(JsonElement el, string where) =>
        el.ValueKind == JsonValueKind.Number ? el.GetDouble() : throw Fail($"{where} is not a number");

    bool OptionalBool(JsonElement obj, string name, string where, bool fallback = false) =>
        Optional(obj, name) is { } v ? Bool(v, $"{where}.{name}") : fallback;

    string? OptionalString(JsonElement obj, string name, string where) =>
        Optional(obj, name) is { } v ? String(v, $"{where}.{name}") : null;
}
