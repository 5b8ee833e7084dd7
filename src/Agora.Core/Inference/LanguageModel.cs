using System.Globalization;
using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Inference.Generation;
using Agora.Inference.Scoring;
using Agora.Models;
using Agora.Templates;
using Agora.Tokenization;

namespace Agora.Inference;

/// <summary>A LoRA adapter to apply, with the user's scale: <c>PATH[:SCALE]</c> on the command line.</summary>
public sealed record AdapterReference(string Path, float Scale = 1)
{
    /// <summary>Parses <c>PATH[:SCALE]</c>; a path that itself contains ':' keeps it unless a number follows the last one.</summary>
    public static AdapterReference Parse(string text)
    {
        int colon = text.LastIndexOf(':');
        if (colon > 0 && float.TryParse(text.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out float scale))
        {
            if (!float.IsFinite(scale)) throw new AgoraException($"--lora {text}: the scale must be a finite number");
            return new AdapterReference(text[..colon], scale);
        }
        return new AdapterReference(text);
    }
}

/// <summary>
/// A model ready to use from C#: the open checkpoint, its weights with any LoRA adapters, its tokenizer, the ids that
/// end generation and its chat template. Dispose it to release the memory map.
/// </summary>
/// <example><code>
/// using var lm = LanguageModel.Load("model.gguf");
/// var generator = lm.CreateGenerator();
/// await foreach (var piece in generator.GenerateAsync("In the beginning", new GenerationOptions { MaxTokens = 32 }))
///     Console.Write(piece);
/// </code></example>
public sealed class LanguageModel : IDisposable
{
    readonly Lazy<ChatTemplate?> _chatTemplate;

    public Checkpoint Checkpoint { get; }
    public TransformerModel Model { get; }
    public ITokenizer Tokenizer { get; }
    public ModelConfig Config => Model.Config;
    /// <summary>Ids that end generation beyond the tokenizer's own (generation_config.json's eos_token_id list).</summary>
    public IReadOnlyList<int> ExtraEndOfGenerationIds { get; }
    /// <summary>The chat template (GGUF metadata, chat_template.jinja or tokenizer_config.json), or null when there is none.</summary>
    public ChatTemplate? ChatTemplate => _chatTemplate.Value;

    LanguageModel(Checkpoint checkpoint, TransformerModel model, ITokenizer tokenizer)
    {
        Checkpoint = checkpoint;
        Model = model;
        Tokenizer = tokenizer;
        ExtraEndOfGenerationIds = checkpoint.GenerationConfig?.EosTokenIds is { } ids
            ? ids.Where(id => !tokenizer.IsEndOfGeneration(id)).ToArray()
            : [];
        _chatTemplate = new(() => ChatTemplate.FromCheckpoint(checkpoint));
    }

    /// <summary>
    /// Opens a GGUF file or Hugging Face folder with the given adapters, each applied at its own scale at every
    /// step, or folded into the weights once with <paramref name="mergeAdapters"/>.
    /// </summary>
    public static LanguageModel Load(string path, IReadOnlyList<AdapterReference>? adapters = null, bool mergeAdapters = false)
    {
        var checkpoint = Checkpoint.Open(path);
        try
        {
            IReadOnlyDictionary<string, LowRankDelta>? deltas = null;
            if (adapters is { Count: > 0 })
                deltas = LoraAdapter.Combine(adapters.Select(a => (LoraAdapter.Load(a.Path, checkpoint), a.Scale)).ToList());
            var model = TransformerModel.Load(checkpoint, deltas, mergeAdapters, WeightRowOrder.AsStored);
            return new LanguageModel(checkpoint, model, TokenizerSource.Load(checkpoint));
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    public InferenceSession CreateSession(int? contextLength = null) => Model.CreateSession(contextLength);

    public TextGenerator CreateGenerator(int? contextLength = null) => new(CreateSession(contextLength), Tokenizer);

    public LogLikelihoodScorer CreateScorer(int? contextLength = null) => new(CreateSession(contextLength), Tokenizer);

    public void Dispose() => Checkpoint.Dispose();
}
