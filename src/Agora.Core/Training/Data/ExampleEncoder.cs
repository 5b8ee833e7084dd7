using System.Text.Json;
using System.Text.Json.Nodes;
using Agora.Templates;
using Agora.Tokenization;

namespace Agora.Training.Data;

/// <summary>How records become training examples.</summary>
public sealed record EncodingOptions
{
    public DatasetFormat Format { get; init; } = DatasetFormat.Alpaca;
    /// <summary>Examples longer than this many tokens are cut to it (keeping the start).</summary>
    public int MaxLength { get; init; } = 2048;
    /// <summary>Score the prompt tokens too, not only the response / assistant tokens.</summary>
    public bool TrainOnInputs { get; init; }
    /// <summary>Skip malformed records (counted) instead of stopping at the first.</summary>
    public bool SkipMalformed { get; init; }
}

/// <summary>What reading a dataset did: the examples and how many records were skipped or cut.</summary>
public sealed record EncodedDataset(IReadOnlyList<TrainingExample> Examples, int Skipped, int Truncated, int DroppedAfterTruncation)
{
    public long TokenCount => Examples.Sum(e => (long)e.Tokens.Length);
}

/// <summary>
/// Turns dataset records into token ids and labels. The Alpaca form is rendered with the Stanford Alpaca prompt
/// and its response ends with EOS; conversations are rendered with the model's chat template one message at a time,
/// so each message's tokens are known and only the assistant's are scored (unless training on inputs).
/// </summary>
public sealed class ExampleEncoder
{
    /// <summary>Stanford Alpaca's prompt for a record with an input.</summary>
    public const string AlpacaPromptWithInput =
        "Below is an instruction that describes a task, paired with an input that provides further context. " +
        "Write a response that appropriately completes the request.\n\n" +
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
    /// <summary>Stanford Alpaca's prompt for a record without an input.</summary>
    public const string AlpacaPromptNoInput =
        "Below is an instruction that describes a task. " +
        "Write a response that appropriately completes the request.\n\n" +
        "### Instruction:\n{instruction}\n\n### Response:\n";

    readonly ITokenizer _tokenizer;
    readonly ChatTemplate? _template;
    readonly EncodingOptions _options;

    public ExampleEncoder(ITokenizer tokenizer, ChatTemplate? template, EncodingOptions options)
    {
        if (options.MaxLength < 2) throw new AgoraException($"the maximum length {options.MaxLength} must be at least 2 tokens");
        if (options.Format is DatasetFormat.ShareGpt or DatasetFormat.Messages && template == null)
            throw new AgoraException($"the {DatasetFormats.Name(options.Format)} format needs the model's chat template, and the model has none");
        _tokenizer = tokenizer;
        _template = template;
        _options = options;
    }

    /// <summary>The Alpaca prompt for an instruction and optional input.</summary>
    public static string AlpacaPrompt(string instruction, string? input) => string.IsNullOrEmpty(input)
        ? AlpacaPromptNoInput.Replace("{instruction}", instruction)
        : AlpacaPromptWithInput.Replace("{instruction}", instruction).Replace("{input}", input);

    /// <summary>Reads and encodes a whole file.</summary>
    public EncodedDataset EncodeFile(string path)
    {
        var records = DatasetFile.Read(path, _options.SkipMalformed, out int skipped);
        var examples = new List<TrainingExample>(records.Count);
        int truncated = 0, dropped = 0;
        foreach (var record in records)
        {
            TrainingExample example;
            try { example = Encode(record.Value); }
            catch (AgoraException e) when (e is not AgoraFormatException)
            {
                if (_options.SkipMalformed) { skipped++; continue; }
                throw new AgoraFormatException(path, $"{record.Where}: {e.Message}");
            }
            if (example.Tokens.Length > _options.MaxLength)
            {
                truncated++;
                example = new TrainingExample(example.Tokens[.._options.MaxLength], example.Labels[.._options.MaxLength]);
            }
            if (example.ScoredCount == 0) { dropped++; continue; }
            examples.Add(example);
        }
        if (examples.Count == 0)
            throw new AgoraFormatException(path, $"no example is left to train on ({records.Count} records read, {skipped} skipped, {dropped} with nothing to score after truncation to {_options.MaxLength} tokens)");
        return new EncodedDataset(examples, skipped, truncated, dropped);
    }

    /// <summary>One record (not yet truncated); a bad record throws <see cref="AgoraException"/> saying what is wrong.</summary>
    public TrainingExample Encode(JsonElement record) => _options.Format switch
    {
        DatasetFormat.Alpaca => EncodeAlpaca(record),
        DatasetFormat.ShareGpt => EncodeConversation(Messages(record, "conversations", "from", "value", ShareGptRole)),
        DatasetFormat.Messages => EncodeConversation(Messages(record, "messages", "role", "content", r => r)),
        _ => EncodeTokens(record),
    };

    TrainingExample EncodeAlpaca(JsonElement record)
    {
        string instruction = Text(record, "instruction", required: true)!;
        string? input = Text(record, "input", required: false);
        string output = Text(record, "output", required: true)!;
        if (output.Length == 0) throw new AgoraException("the response ('output') is empty");
        var eos = _tokenizer.EosId ?? throw new AgoraException("the tokenizer has no EOS token to end the Alpaca responses with");
        var builder = new Builder(this, addBos: true);
        builder.Add(AlpacaPrompt(instruction, input), trained: false);
        builder.Add(output, trained: true);
        builder.AddId(eos, trained: true);
        return builder.Build();
    }

    TrainingExample EncodeConversation(JsonArray messages)
    {
        // As apply_chat_template tokenizes: the template writes any BOS itself.
        var builder = new Builder(this, addBos: false);
        string rendered = "";
        bool anyAssistant = false;
        for (int i = 0; i < messages.Count; i++)
        {
            bool assistant = (string?)messages[i]!["role"] == "assistant";
            if (assistant)
            {
                // The template's assistant header (e.g. "<|im_start|>assistant\n") belongs to the prompt.
                var header = Render(messages, i, addGenerationPrompt: true);
                builder.Add(Continuation(rendered, header, i), trained: false);
                rendered = header;
                anyAssistant = true;
            }
            var next = Render(messages, i + 1, addGenerationPrompt: false);
            builder.Add(Continuation(rendered, next, i), trained: assistant);
            rendered = next;
        }
        if (!anyAssistant) throw new AgoraException("the conversation has no assistant message to train on");
        return builder.Build();
    }

    string Render(JsonArray messages, int count, bool addGenerationPrompt)
    {
        var prefix = new JsonArray([.. messages.Take(count).Select(m => m!.DeepClone())]);
        try { return _template!.Render(new ChatTemplateInput { Messages = prefix, AddGenerationPrompt = addGenerationPrompt }); }
        catch (TemplateException e) { throw new AgoraException($"the chat template cannot render the conversation: {e.Message}"); }
    }

    static string Continuation(string before, string after, int message) => after.StartsWith(before, StringComparison.Ordinal)
        ? after[before.Length..]
        : throw new AgoraException($"the chat template renders message {message + 1} by changing the text before it, so the assistant's tokens cannot be told apart");

    static string? ShareGptRole(string from) => from switch
    {
        "human" or "user" => "user",
        "gpt" or "assistant" or "chatgpt" or "bing" or "bard" => "assistant",
        "system" => "system",
        "tool" or "function_response" or "observation" => "tool",
        _ => null,
    };

    static JsonArray Messages(JsonElement record, string key, string roleKey, string contentKey, Func<string, string?> role)
    {
        if (!record.TryGetProperty(key, out var list) || list.ValueKind != JsonValueKind.Array)
            throw new AgoraException($"has no '{key}' list");
        var messages = new JsonArray();
        int index = 0;
        foreach (var m in list.EnumerateArray())
        {
            index++;
            if (m.ValueKind != JsonValueKind.Object) throw new AgoraException($"'{key}' item {index} is not an object");
            string from = Text(m, roleKey, required: true)!;
            string content = Text(m, contentKey, required: true)!;
            var mapped = role(from) ?? throw new AgoraException($"'{key}' item {index} has the unknown {roleKey} '{from}'");
            if (mapped == "assistant" && content.Length == 0) throw new AgoraException($"'{key}' item {index}: the assistant's message is empty");
            messages.Add(new JsonObject { ["role"] = mapped, ["content"] = content });
        }
        if (messages.Count == 0) throw new AgoraException($"'{key}' is empty");
        return messages;
    }

    TrainingExample EncodeTokens(JsonElement record)
    {
        var tokens = Ids(record, "input_ids", required: true)!;
        var labels = Ids(record, "labels", required: false) ?? (int[])tokens.Clone();
        if (tokens.Length == 0) throw new AgoraException("'input_ids' is empty");
        if (labels.Length != tokens.Length) throw new AgoraException($"'labels' has {labels.Length} values for {tokens.Length} input_ids");
        foreach (var id in tokens)
            if ((uint)id >= (uint)_tokenizer.VocabSize) throw new AgoraException($"input id {id} is outside the vocabulary (0..{_tokenizer.VocabSize - 1})");
        foreach (var id in labels)
            if (id != TrainingBatch.Ignored && (uint)id >= (uint)_tokenizer.VocabSize) throw new AgoraException($"label {id} is neither {TrainingBatch.Ignored} nor in the vocabulary");
        if (_options.TrainOnInputs) labels = (int[])tokens.Clone();
        return new TrainingExample(tokens, labels);
    }

    static int[]? Ids(JsonElement record, string key, bool required)
    {
        if (!record.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
            return required ? throw new AgoraException($"has no '{key}'") : null;
        if (value.ValueKind != JsonValueKind.Array) throw new AgoraException($"'{key}' is not a list of token ids");
        var ids = new int[value.GetArrayLength()];
        int i = 0;
        foreach (var v in value.EnumerateArray())
            ids[i++] = v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int id) ? id : throw new AgoraException($"'{key}' item {i + 1} is not an integer token id");
        return ids;
    }

    static string? Text(JsonElement record, string key, bool required)
    {
        if (!record.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
            return required ? throw new AgoraException($"has no '{key}'") : null;
        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new AgoraException($"'{key}' is not a string");
    }

    /// <summary>Token ids and labels built piece by piece; with <paramref name="addBos"/>, BOS first when the tokenizer adds one and the text does not start with it.</summary>
    sealed class Builder(ExampleEncoder encoder, bool addBos)
    {
        readonly List<int> _tokens = [];
        readonly List<int> _labels = [];
        readonly List<int> _piece = [];

        public void Add(string text, bool trained)
        {
            if (text.Length == 0) return;
            _piece.Clear();
            encoder._tokenizer.Encode(text, _piece, addSpecialTokens: false);
            if (addBos && _tokens.Count == 0 && encoder._tokenizer is { AddBos: true, BosId: int bos } && (_piece.Count == 0 || _piece[0] != bos))
                AddId(bos, trained: false);
            foreach (var id in _piece) AddId(id, trained);
        }

        public void AddId(int id, bool trained)
        {
            _tokens.Add(id);
            _labels.Add(trained || encoder._options.TrainOnInputs ? id : TrainingBatch.Ignored);
        }

        public TrainingExample Build() => new([.. _tokens], [.. _labels]);
    }
}
