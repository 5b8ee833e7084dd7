using System.Text.Json;
using Agora.Formats;
using Agora.Formats.Gguf;

namespace Agora.Conversion;

/// <summary>
/// The special-token part of a converted vocabulary, as llama.cpp's gguf-py SpecialVocab writes it: the ids of the
/// bos/eos/unk/sep/pad/cls/mask tokens (tokenizer_config.json's tokens looked up among tokenizer.json's added tokens,
/// then config.json's <c>*_token_id</c> for those still missing), whether BOS/EOS/SEP are added (read from the
/// post-processor's template, then tokenizer_config.json's <c>add_*_token</c>), and the chat templates.
/// </summary>
static class HfSpecialTokens
{
    const string Prefix = "tokenizer.ggml.";

    static readonly Dictionary<string, string> IdKeys = new()
    {
        ["bos"] = "bos_token_id", ["eos"] = "eos_token_id", ["unk"] = "unknown_token_id", ["sep"] = "seperator_token_id",
        ["pad"] = "padding_token_id", ["cls"] = "cls_token_id", ["mask"] = "mask_token_id",
        ["eot"] = "eot_token_id", ["eom"] = "eom_token_id",
    };

    /// <param name="tokenCount">Ids at or beyond it are skipped, as llama.cpp skips them.</param>
    /// <param name="readerAddsBos">
    /// Whether llama.cpp adds BOS to this vocabulary when the file does not say. Then a tokenizer that adds none gets
    /// add_bos_token false (gguf-py writes nothing), so that the file tokenizes as tokenizer.json does.
    /// </param>
    public static void Add(List<KeyValuePair<string, GgufValue>> entries, string folder, JsonElement tokenizer, JsonElement? config,
        Dictionary<int, HfVocabulary.HfAddedToken> added, JsonElement modelConfig, int tokenCount, bool readerAddsBos)
    {
        var types = new List<string> { "bos", "eos", "unk", "sep", "pad", "cls", "mask" };
        // What tokenizer_config.json names each special token; the template reading below may rename some.
        var contents = new Dictionary<string, string?>();
        foreach (var type in types) contents[type] = config is { } c ? Content(c, type + "_token") : null;
        if (config.HasValue)
        {
            contents["bos"] ??= contents["cls"];
            contents["eos"] ??= contents["sep"];
        }
        var add = new OrderedDictionary<string, bool>();
        ReadPostProcessor(tokenizer, config.HasValue, contents, types, add);

        var ids = new OrderedDictionary<string, int>();
        void Set(string type, int? id)
        {
            if (id is { } v && v < tokenCount) ids.TryAdd(type, v);
        }
        if (config is { } tc)
            foreach (var type in types)
            {
                if (HfJson.Member(tc, $"add_{type}_token") is { ValueKind: JsonValueKind.True or JsonValueKind.False } flag)
                    add[type] = flag.GetBoolean();
                if (contents.GetValueOrDefault(type) is { } text)
                    Set(type, added.Values.OrderBy(t => t.Id).FirstOrDefault(t => t.Content == text)?.Id);
            }
        if (readerAddsBos) add.TryAdd("bos", false);
        foreach (var type in types)
            if (HfJson.Member(modelConfig, $"{type}_token_id") is { ValueKind: JsonValueKind.Number } n && n.TryGetInt32(out int id) && id >= 0)
                Set(type, id);

        foreach (var (type, id) in ids) entries.Add(new(Prefix + IdKeys[type], GgufValue.UInt32((uint)id)));
        foreach (var (type, value) in add)
            if (type is "bos" or "eos" or "sep") entries.Add(new($"{Prefix}add_{type}_token", GgufValue.Bool(value)));
        AddChatTemplates(entries, folder, config);
    }

    /// <summary>A special token in tokenizer_config.json: a string, or an AddedToken object with "content".</summary>
    internal static string? Content(JsonElement config, string key) => HfJson.Member(config, key) switch
    {
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Object } o when HfJson.Member(o, "content") is { ValueKind: JsonValueKind.String } c => c.GetString(),
        _ => null,
    };

    /// <summary>
    /// llama.cpp's reading of the post-processor: RoBERTa adds BOS, EOS and SEP; a template adds BOS when it starts
    /// with the BOS (or CLS) token and EOS when it ends with the EOS token (a different last token becomes the EOS,
    /// the configured one the EOT), and SEP when its pair template puts SEP or EOS between the two sequences.
    /// </summary>
    static void ReadPostProcessor(JsonElement tokenizer, bool hasConfig, Dictionary<string, string?> contents, List<string> types,
        OrderedDictionary<string, bool> add)
    {
        if (HfJson.Member(tokenizer, "post_processor") is not { ValueKind: JsonValueKind.Object } post) return;
        var processors = HfJson.Member(post, "processors") is { ValueKind: JsonValueKind.Array } list ? [.. list.EnumerateArray()] : new[] { post };
        foreach (var processor in processors)
        {
            var type = HfJson.Member(processor, "type") is { ValueKind: JsonValueKind.String } t ? t.GetString() : null;
            if (type == "RobertaProcessing")
            {
                add["bos"] = add["eos"] = add["sep"] = true;
                continue;
            }
            if (type != "TemplateProcessing") continue;
            var single = Items(processor, "single");
            string? first = null, last = null;
            if (single.Count > 1)
            {
                if ((first = SpecialId(single[0])) != null)
                {
                    if (!hasConfig) contents["bos"] = first;
                    add["bos"] = first == contents["bos"] || first == contents["cls"];
                }
                if ((last = SpecialId(single[^1])) != null)
                {
                    if (!hasConfig) contents["eos"] = last;
                    else if (last != contents["eos"])
                    {
                        var spare = types.Contains("eot") ? types.Contains("eom") ? null : "eom" : "eot";
                        if (spare != null)
                        {
                            types.Add(spare);
                            contents[spare] = contents["eos"];
                        }
                        contents["eos"] = last;
                    }
                    add["eos"] = last == contents["eos"];
                }
            }
            var pair = Items(processor, "pair");
            if (pair.Count == 0) continue;
            int start = first != null && SpecialId(pair[0]) == first ? 1 : 0;
            int stop = last != null && SpecialId(pair[^1]) == last ? pair.Count - 1 : pair.Count;
            var middle = pair.GetRange(start, Math.Max(stop - start, 0));
            if (middle.Count < 3 || SequenceId(middle[0]) != "A" || SequenceId(middle[^1]) != "B") continue;
            var between = middle.GetRange(1, middle.Count - 2);
            bool IsSeparator(string? id) => id != null && (id == contents["sep"] || id == contents["eos"]);
            bool addSep = IsSeparator(SpecialId(between[0])) && last == null;
            if (between.Count == 2 && IsSeparator(SpecialId(between[1]))) addSep = true;
            add["sep"] = addSep;
        }
    }

    static List<JsonElement> Items(JsonElement processor, string name) =>
        HfJson.Member(processor, name) is { ValueKind: JsonValueKind.Array } a ? [.. a.EnumerateArray()] : [];

    static string? SpecialId(JsonElement item) => PieceId(item, "SpecialToken");

    static string? SequenceId(JsonElement item) => PieceId(item, "Sequence");

    static string? PieceId(JsonElement item, string kind) =>
        HfJson.Member(item, kind) is { ValueKind: JsonValueKind.Object } piece
        && HfJson.Member(piece, "id") is { ValueKind: JsonValueKind.String } id ? id.GetString() : null;

    /// <summary>
    /// The chat templates: chat_template.jinja (with additional_chat_templates/*.jinja as named templates), else
    /// tokenizer_config.json's chat_template (a string, or a list of {name, template}), else chat_template.json's.
    /// llama.cpp prefers tokenizer_config.json's when both it and chat_template.jinja exist; here the .jinja file
    /// wins, as it does for transformers and for Agora reading the folder, so the converted file chats alike.
    /// Named templates go to <c>tokenizer.chat_template.NAME</c>, listed in <c>tokenizer.chat_templates</c>.
    /// </summary>
    static void AddChatTemplates(List<KeyValuePair<string, GgufValue>> entries, string folder, JsonElement? config)
    {
        string? fallback = null;
        var named = new List<(string Name, string Template)>();
        var jinja = Path.Combine(folder, "chat_template.jinja");
        if (File.Exists(jinja))
        {
            fallback = File.ReadAllText(jinja);
            var extra = Path.Combine(folder, "additional_chat_templates");
            if (Directory.Exists(extra))
                foreach (var file in Directory.GetFiles(extra, "*.jinja").Order(StringComparer.Ordinal))
                    named.Add((Path.GetFileNameWithoutExtension(file), File.ReadAllText(file)));
        }
        else if (config is { } c && HfJson.Member(c, "chat_template") is { } value)
            fallback = ReadTemplates(Path.Combine(folder, "tokenizer_config.json"), value, named);
        else if (Path.Combine(folder, "chat_template.json") is var jsonPath && File.Exists(jsonPath))
        {
            using var document = FormatJson.ReadFile(jsonPath, "chat_template.json");
            if (HfJson.Member(document.RootElement, "chat_template") is { } stored)
                fallback = ReadTemplates(jsonPath, stored, named);
        }

        var names = new List<string>();
        foreach (var (name, template) in named)
        {
            var key = new string([.. name.Select(ch => char.IsAsciiLetterOrDigit(ch) ? ch : '_')]);
            if (key.Length == 0 || names.Contains(key)) continue;
            names.Add(key);
            entries.Add(new($"tokenizer.chat_template.{key}", GgufValue.String(template)));
        }
        if (names.Count > 0) entries.Add(new("tokenizer.chat_templates", GgufValue.StringArray(names)));
        if (fallback != null) entries.Add(new("tokenizer.chat_template", GgufValue.String(fallback)));
    }

    /// <summary>A stored chat_template: a string (returned), or a list of {name, template} whose "default" is returned and the rest added to <paramref name="named"/>.</summary>
    static string? ReadTemplates(string path, JsonElement value, List<(string, string)> named)
    {
        if (value.ValueKind == JsonValueKind.String) return value.GetString();
        if (value.ValueKind != JsonValueKind.Array)
            throw new AgoraFormatException(path, "chat_template must be a string or a list of {name, template} objects");
        string? fallback = null;
        foreach (var item in value.EnumerateArray())
        {
            if (HfJson.Member(item, "name") is not { ValueKind: JsonValueKind.String } name
                || HfJson.Member(item, "template") is not { ValueKind: JsonValueKind.String } template)
                throw new AgoraFormatException(path, "chat_template list entries must be objects with string 'name' and 'template'");
            if (name.GetString() == "default") fallback = template.GetString();
            else named.Add((name.GetString()!, template.GetString()!));
        }
        return fallback;
    }
}
