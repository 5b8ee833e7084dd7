using Agora.Formats.Checkpoint;
using Agora.Formats;
using Agora.Formats.Gguf;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Agora.Templates;

/// <summary>What a chat template is rendered with, as transformers' apply_chat_template passes it.</summary>
public sealed record ChatTemplateInput
{
    /// <summary>The conversation: a JSON array of message objects (role, content, tool_calls…).</summary>
    public required JsonNode Messages { get; init; }

    public bool AddGenerationPrompt { get; init; }

    /// <summary>Tool schemas (a JSON array), or null when none are given (the template sees <c>tools</c> as None).</summary>
    public JsonNode? Tools { get; init; }

    /// <summary>RAG documents (a JSON array), or null (the template sees <c>documents</c> as None).</summary>
    public JsonNode? Documents { get; init; }

    /// <summary>Overrides the template's own bos_token (from tokenizer_config.json) when set.</summary>
    public string? BosToken { get; init; }

    /// <summary>Overrides the template's own eos_token when set.</summary>
    public string? EosToken { get; init; }

    /// <summary>Further template variables (e.g. enable_thinking); they override special tokens of the same name.</summary>
    public IReadOnlyDictionary<string, JsonNode?>? Variables { get; init; }

    /// <summary>The time strftime_now sees; the local clock when null.</summary>
    public Func<DateTime>? Clock { get; init; }
}

/// <summary>
/// A Hugging Face chat template: a Jinja2 template rendered exactly as transformers' apply_chat_template renders it
/// (Jinja2's sandbox with trim_blocks, lstrip_blocks, loop controls, transformers' tojson, raise_exception,
/// strftime_now and the generation block).
/// </summary>
public sealed class ChatTemplate
{
    static readonly string[] SpecialTokenNames =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    readonly Stmt[] body;

    public string Source { get; }
    public string Origin { get; }

    /// <summary>Special tokens the template sees (bos_token, eos_token, …) when it came with a tokenizer config.</summary>
    public IReadOnlyDictionary<string, string> SpecialTokens { get; init; } = new Dictionary<string, string>();

    public string? BosToken => SpecialTokens.GetValueOrDefault("bos_token");
    public string? EosToken => SpecialTokens.GetValueOrDefault("eos_token");

    ChatTemplate(string source, string origin, Stmt[] body)
    {
        Source = source;
        Origin = origin;
        this.body = body;
    }

    /// <summary>Parses template source; syntax errors throw <see cref="TemplateException"/> naming <paramref name="origin"/> and the line.</summary>
    public static ChatTemplate Parse(string source, string origin)
    {
        try
        {
            return new ChatTemplate(source, origin, TemplateParser.Parse(source, origin));
        }
        catch (InsufficientExecutionStackException)
        {
            throw TemplateException.Syntax("the template is nested too deeply", origin, 1);
        }
    }

    /// <summary>Renders the conversation; any failure (including the template's raise_exception) throws <see cref="TemplateException"/>.</summary>
    public string Render(ChatTemplateInput input)
    {
        if (input.Messages is not JsonArray) throw new AgoraException("chat template input: messages must be a JSON array");
        var globals = new Scope(null);
        var clock = input.Clock ?? (() => DateTime.Now);
        foreach (var (name, fn) in Globals) globals.Set(name, fn);
        var vars = new Scope(globals);
        foreach (var (name, value) in SpecialTokens) vars.Set(name, value);
        if (input.BosToken != null) vars.Set("bos_token", input.BosToken);
        if (input.EosToken != null) vars.Set("eos_token", input.EosToken);
        vars.Set("messages", PyJson.FromNode(input.Messages));
        vars.Set("tools", PyJson.FromNode(input.Tools));
        vars.Set("documents", PyJson.FromNode(input.Documents));
        vars.Set("add_generation_prompt", input.AddGenerationPrompt);
        if (input.Variables != null)
            foreach (var (name, value) in input.Variables) vars.Set(name, PyJson.FromNode(value));
        try
        {
            return TemplateRenderer.Render(body, vars, clock);
        }
        catch (TemplateException e)
        {
            e.Origin ??= Origin;
            throw;
        }
    }

    static readonly (string, PyCallable)[] Globals =
    [
        ("raise_exception", new BuiltinFunction("raise_exception", (_, a) =>
            throw new TemplateException("TemplateError", Py.Str(a.Bind("raise_exception", "message")[0])))),
        ("strftime_now", new BuiltinFunction("strftime_now", (r, a) =>
        {
            var format = a.Bind("strftime_now", "format")[0];
            return PyStrftime.Format(r.Clock(), Py.AsString(format) ?? throw TemplateException.Type("strftime() argument 1 must be str"));
        })),
        ("range", new BuiltinFunction("range", (_, a) => Range(a))),
        ("dict", new BuiltinFunction("dict", (_, a) => MakeDict(a))),
        ("namespace", new BuiltinFunction("namespace", (_, a) =>
        {
            var ns = new Namespace();
            foreach (var (key, value) in MakeDict(a)) ns.Attributes[Py.Str(key)] = value;
            return ns;
        })),
    ];

    const long MaxRange = 100_000;

    static object Range(CallArguments a)
    {
        if (a.Keywords.Count > 0) throw TemplateException.Type("range() takes no keyword arguments");
        if (a.Positional.Count is 0 or > 3) throw TemplateException.Type($"range expected at most 3 arguments, got {a.Positional.Count}");
        var n = a.Positional.Select(v => v is long or bool ? Py.ToLong(v)
            : throw TemplateException.Type($"'{Py.TypeName(v)}' object cannot be interpreted as an integer")).ToArray();
        long start = n.Length > 1 ? n[0] : 0, stop = n.Length > 1 ? n[1] : n[0], step = n.Length > 2 ? n[2] : 1;
        if (step == 0) throw TemplateException.Value("range() arg 3 must not be zero");
        var count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0) : (start > stop ? (start - stop - step - 1) / -step : 0);
        if (count > MaxRange)
            throw new TemplateException("OverflowError", $"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        var list = new List<object?>((int)count);
        for (var i = 0L; i < count; i++) list.Add(start + i * step);
        return list;
    }

    static PyDict MakeDict(CallArguments a)
    {
        var d = new PyDict();
        if (a.Positional.Count > 1) throw TemplateException.Type($"dict expected at most 1 argument, got {a.Positional.Count}");
        if (a.Positional.Count == 1)
        {
            if (a.Positional[0] is PyDict source)
                foreach (var (k, v) in source) d.Set(k, v);
            else
                foreach (var pair in Py.Iterate(a.Positional[0]))
                {
                    var kv = Py.Iterate(pair);
                    if (kv.Count != 2) throw TemplateException.Value($"dictionary update sequence element has length {kv.Count}; 2 is required");
                    d.Set(kv[0], kv[1]);
                }
        }
        foreach (var (k, v) in a.Keywords) d.Set(k, v);
        return d;
    }

    // ---- discovery ----

    /// <summary>
    /// The chat template of a Hugging Face folder, as transformers picks it: <c>chat_template.jinja</c> when present
    /// (it wins over the config), else <c>tokenizer_config.json</c>'s <c>chat_template</c>. Special tokens come from
    /// tokenizer_config.json. Null when the folder has no chat template.
    /// </summary>
    public static ChatTemplate? FromFolder(string directory, string? name = null)
    {
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        var config = File.Exists(configPath) ? ReadConfig(configPath) : null;
        var tokens = config is null ? new Dictionary<string, string>() : ReadSpecialTokens(config, configPath);
        var jinjaPath = Path.Combine(directory, "chat_template.jinja");
        if (name is null && File.Exists(jinjaPath))
            return Parse(File.ReadAllText(jinjaPath), jinjaPath).With(tokens);
        return config is null ? null : FromConfig(config, configPath, name, tokens);
    }

    /// <summary>The chat template stored in a tokenizer_config.json (a string, or a list of {name, template} where "default" is used unless <paramref name="name"/> says otherwise). Null when it has none.</summary>
    public static ChatTemplate? FromTokenizerConfig(string path, string? name = null)
    {
        var config = ReadConfig(path);
        return FromConfig(config, path, name, ReadSpecialTokens(config, path));
    }

    /// <summary>
    /// The chat template of a GGUF file (<c>tokenizer.chat_template</c>), seeing the vocabulary's BOS and EOS token
    /// strings as bos_token and eos_token. Null when the file has none.
    /// </summary>
    public static ChatTemplate? FromGguf(GgufFile gguf)
    {
        if (!gguf.TryGetValue("tokenizer.chat_template", out _)) return null;
        var source = gguf.GetString("tokenizer.chat_template");
        var tokens = new Dictionary<string, string>();
        if (gguf.TryGetValue("tokenizer.ggml.tokens", out _))
        {
            var vocabulary = gguf.GetStrings("tokenizer.ggml.tokens");
            foreach (var (key, name) in new[] { ("tokenizer.ggml.bos_token_id", "bos_token"), ("tokenizer.ggml.eos_token_id", "eos_token") })
            {
                if (gguf.TryGetValue(key, out _) && gguf.GetInt64(key) is var id && id >= 0 && id < vocabulary.Count)
                    tokens[name] = vocabulary[(int)id];
            }
        }
        return Parse(source, $"{gguf.Path}:tokenizer.chat_template").With(tokens);
    }

    /// <summary>The chat template that came with a checkpoint: its GGUF metadata or its folder's files; null when none.</summary>
    public static ChatTemplate? FromCheckpoint(Checkpoint checkpoint) =>
        checkpoint.Gguf is { } gguf ? FromGguf(gguf) : FromFolder(checkpoint.Path);

    /// <summary>
    /// The chat template of whatever the user pointed at: a GGUF file, a Hugging Face folder, a tokenizer_config.json,
    /// or a template file of its own (anything else, e.g. <c>.jinja</c>). Errors name the path and what is missing.
    /// </summary>
    public static ChatTemplate Load(string path)
    {
        if (Directory.Exists(path))
            return FromFolder(path) ?? throw new AgoraException($"{path}: no chat template (neither chat_template.jinja nor a chat_template in tokenizer_config.json)");
        if (!File.Exists(path)) throw new AgoraException($"{path}: no such file or folder");
        if (GgufFile.HasMagic(path))
        {
            using var gguf = GgufFile.Open(path);
            return FromGguf(gguf) ?? throw new AgoraException($"{path}: the GGUF file has no tokenizer.chat_template");
        }
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return FromTokenizerConfig(path) ?? throw new AgoraException($"{path}: no chat_template in this file");
        return Parse(File.ReadAllText(path), path);
    }

    ChatTemplate With(IReadOnlyDictionary<string, string> tokens) => new(Source, Origin, body) { SpecialTokens = tokens };

    static ChatTemplate? FromConfig(JsonObject config, string path, string? name, IReadOnlyDictionary<string, string> tokens)
    {
        var node = config["chat_template"];
        switch (node)
        {
            case null: return null;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                if (name != null && name != "default") throw new AgoraFormatException(path, $"no chat template named '{name}' (it has a single template)");
                return Parse(v.GetValue<string>(), path).With(tokens);
            case JsonArray list:
                var wanted = name ?? "default";
                foreach (var item in list)
                {
                    if (item is not JsonObject o || o["name"] is not JsonValue n || o["template"] is not JsonValue t
                        || n.GetValueKind() != JsonValueKind.String || t.GetValueKind() != JsonValueKind.String)
                        throw new AgoraFormatException(path, "chat_template list entries must be objects with string 'name' and 'template'");
                    if (n.GetValue<string>() == wanted) return Parse(t.GetValue<string>(), $"{path} ({wanted})").With(tokens);
                }
                var names = string.Join(", ", list.OfType<JsonObject>().Select(o => o["name"]?.ToString()));
                throw new AgoraFormatException(path, $"no chat template named '{wanted}' (it has: {names})");
            default:
                throw new AgoraFormatException(path, "chat_template must be a string or a list of {name, template} objects");
        }
    }

    static JsonObject ReadConfig(string path) =>
        JsonTree.Parse(File.ReadAllText(path), path, allowTrailingCommas: true) as JsonObject
            ?? throw new AgoraFormatException(path, "expected a JSON object");

    /// <summary>Special token strings of a tokenizer_config.json; each is a string or an AddedToken object with "content".</summary>
    static Dictionary<string, string> ReadSpecialTokens(JsonObject config, string path)
    {
        var tokens = new Dictionary<string, string>();
        foreach (var name in SpecialTokenNames)
        {
            switch (config[name])
            {
                case null: break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String: tokens[name] = v.GetValue<string>(); break;
                case JsonObject o when o["content"] is JsonValue c && c.GetValueKind() == JsonValueKind.String: tokens[name] = c.GetValue<string>(); break;
                default: throw new AgoraFormatException(path, $"{name} must be a string or an object with a string 'content'");
            }
        }
        return tokens;
    }
}
