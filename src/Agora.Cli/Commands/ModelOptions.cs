using System.CommandLine;
using Agora.Inference;
using Agora.Inference.Sampling;
using Agora.Tensors.Threading;

namespace Agora.Cli.Commands;

/// <summary>The options every command that runs a model shares: the model, its adapters, its context.</summary>
sealed class ModelOptions
{
    public readonly Argument<string> Model = new("MODEL") { Description = "A GGUF file or a Hugging Face folder" };
    public readonly Option<string[]> Lora = new("--lora")
    {
        Description = "A LoRA adapter (PEFT folder or llama.cpp GGUF LoRA), optionally with a scale: PATH[:SCALE]; repeatable",
        AllowMultipleArgumentsPerToken = false,
    };
    public readonly Option<bool> MergeLora = new("--merge-lora") { Description = "Fold the adapters into the weights once instead of applying them at every step" };
    public readonly Option<int?> ContextSize = new("--ctx-size", "-c") { Description = "Context length in tokens (default: the model's)" };
    public readonly Option<int?> Threads = new("--threads", "-t") { Description = "Worker threads for the kernels (default: one per core)" };

    public void AddTo(Command command)
    {
        command.Add(Model);
        command.Add(Lora);
        command.Add(MergeLora);
        command.Add(ContextSize);
        command.Add(Threads);
    }

    public LanguageModel Load(ParseResult parse)
    {
        if (parse.GetValue(Threads) is { } threads)
            WorkerPool.SetSharedThreads(threads > 0 ? threads : throw new AgoraException($"-t must be positive, not {threads}"));
        var adapters = (parse.GetValue(Lora) ?? []).Select(AdapterReference.Parse).ToList();
        return LanguageModel.Load(parse.GetValue(Model)!, adapters, parse.GetValue(MergeLora));
    }

    public int? Context(ParseResult parse) => parse.GetValue(ContextSize) is { } n
        ? n > 0 ? n : throw new AgoraException($"--ctx-size must be positive, not {n}")
        : null;
}

/// <summary>Sampling flags as llama.cpp names them, with llama.cpp's defaults.</summary>
sealed class SamplingFlags
{
    public readonly Option<int> Tokens;
    public readonly Option<double> Temperature = new("--temp") { Description = "Temperature; 0 is greedy", DefaultValueFactory = _ => 0.8 };
    public readonly Option<int> TopK = new("--top-k") { Description = "Keep the K most likely tokens (0: off)", DefaultValueFactory = _ => 40 };
    public readonly Option<double> TopP = new("--top-p") { Description = "Keep the smallest set of tokens whose probability reaches P (1: off)", DefaultValueFactory = _ => 0.95 };
    public readonly Option<double> MinP = new("--min-p") { Description = "Drop tokens less likely than P times the most likely (0: off)", DefaultValueFactory = _ => 0.05 };
    public readonly Option<double> RepeatPenalty = new("--repeat-penalty") { Description = "Penalise repeated tokens (1: off)", DefaultValueFactory = _ => 1.0 };
    public readonly Option<double> PresencePenalty = new("--presence-penalty") { Description = "Subtract from tokens already present (0: off)" };
    public readonly Option<double> FrequencyPenalty = new("--frequency-penalty") { Description = "Subtract per occurrence (0: off)" };
    public readonly Option<ulong?> Seed = new("--seed") { Description = "Random seed; the same seed gives the same output (default: random)" };
    public readonly Option<string[]> Stop = new("--stop") { Description = "Stop when this text appears (not printed); repeatable" };

    public SamplingFlags(int defaultTokens) =>
        Tokens = new Option<int>("-n", "--n-predict") { Description = "The most tokens to generate", DefaultValueFactory = _ => defaultTokens };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Tokens, Temperature, TopK, TopP, MinP, RepeatPenalty, PresencePenalty, FrequencyPenalty, Seed, Stop })
            command.Add(option);
    }

    public Agora.Inference.Generation.GenerationOptions Options(ParseResult parse, LanguageModel model)
    {
        int tokens = parse.GetValue(Tokens);
        if (tokens <= 0) throw new AgoraException($"-n must be positive, not {tokens}");
        return new()
        {
            MaxTokens = tokens,
            StopStrings = parse.GetValue(Stop) ?? [],
            EndOfGenerationIds = model.ExtraEndOfGenerationIds,
            Sampling = new SamplerOptions
            {
                Temperature = parse.GetValue(Temperature),
                TopK = parse.GetValue(TopK),
                TopP = parse.GetValue(TopP),
                MinP = parse.GetValue(MinP),
                RepetitionPenalty = parse.GetValue(RepeatPenalty),
                PresencePenalty = parse.GetValue(PresencePenalty),
                FrequencyPenalty = parse.GetValue(FrequencyPenalty),
                Seed = parse.GetValue(Seed),
            },
        };
    }
}
