using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Agora.Adapters;
using Agora.Formats;
using Agora.Formats.Checkpoint;
using Agora.Templates;
using Agora.Tensors.Threading;
using Agora.Tokenization;
using Agora.Training;
using Agora.Training.Data;

namespace Agora.Cli.Commands;

/// <summary>
/// <c>agora finetune MODEL --data FILE --out DIR …</c>: trains a LoRA adapter on a dataset and writes a PEFT
/// adapter folder, the training record (training.json) and the loss curve (loss.svg) into DIR.
/// </summary>
public static class FinetuneCommand
{
    public static Command Create(Terminal terminal)
    {
        var model = new Argument<string>("MODEL") { Description = "A GGUF file or a Hugging Face folder" };
        var data = new Option<string>("--data") { Description = "Training data: a JSON array or JSON Lines file", Required = true };
        var format = new Option<string>("--format") { Description = "alpaca, sharegpt, messages or tokens", DefaultValueFactory = _ => "alpaca" };
        var output = new Option<string>("--out", "-o") { Description = "The folder to write the adapter and training record into", Required = true };
        var rank = new Option<int>("--r") { Description = "LoRA rank", DefaultValueFactory = _ => 8 };
        var alpha = new Option<float>("--alpha") { Description = "lora_alpha (the update is scaled by alpha/r)", DefaultValueFactory = _ => 16 };
        var targets = new Option<string>("--targets") { Description = "Modules to adapt, comma-separated (q_proj,v_proj,…) or all", DefaultValueFactory = _ => "q_proj,v_proj" };
        var rate = new Option<float>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => 2e-4f };
        var epochs = new Option<int?>("--epochs") { Description = "Passes over the data (default 1)" };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps (instead of --epochs)" };
        var batch = new Option<int>("--batch") { Description = "Examples per micro-batch", DefaultValueFactory = _ => 1 };
        var accumulation = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => 1 };
        var maxLength = new Option<int>("--max-len") { Description = "Examples are cut to this many tokens", DefaultValueFactory = _ => 1024 };
        var schedule = new Option<string>("--schedule") { Description = "constant, linear or cosine", DefaultValueFactory = _ => "linear" };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps" };
        var weightDecay = new Option<float>("--weight-decay") { Description = "AdamW's decoupled weight decay", DefaultValueFactory = _ => 0f };
        var clip = new Option<float>("--clip") { Description = "Clip gradients to this global norm (0: off)", DefaultValueFactory = _ => 1f };
        var seed = new Option<ulong>("--seed") { Description = "Seed for the adapter's initialisation and the shuffle", DefaultValueFactory = _ => 42 };
        var noShuffle = new Option<bool>("--no-shuffle") { Description = "Keep the file's order" };
        var initAdapter = new Option<string?>("--init-adapter") { Description = "Continue training this PEFT adapter instead of a new one" };
        var trainOnInputs = new Option<bool>("--train-on-inputs") { Description = "Score the prompt tokens too, not only the responses" };
        var skipBad = new Option<bool>("--skip-bad-lines") { Description = "Skip malformed records (counted) instead of stopping" };
        var gguf = new Option<bool>("--gguf") { Description = "Also write the adapter as a llama.cpp GGUF LoRA (adapter.gguf)" };
        var threads = new Option<int?>("--threads", "-t") { Description = "Worker threads (default: one per core)" };
        var resume = new Option<bool>("--resume") { Description = "Not implemented yet" };
        var full = new Option<bool>("--full") { Description = "Not implemented yet" };
        var command = new Command("finetune", "Train a LoRA adapter on a dataset")
        {
            model, data, format, output, rank, alpha, targets, rate, epochs, steps, batch, accumulation, maxLength, schedule,
            warmup, weightDecay, clip, seed, noShuffle, initAdapter, trainOnInputs, skipBad, gguf, threads, resume, full,
        };
        command.SetAction(AgoraCli.Guarded(terminal, parse =>
        {
            if (parse.GetValue(resume)) throw new AgoraException("--resume is not implemented yet (checkpoints are not written)");
            if (parse.GetValue(full)) throw new AgoraException("--full (full fine-tuning) is not available from the command line yet");
            if (parse.GetValue(epochs) is not null && parse.GetValue(steps) is not null) throw new AgoraException("give --epochs or --steps, not both");
            int batchSize = Positive(parse.GetValue(batch), "--batch"), accumulate = Positive(parse.GetValue(accumulation), "--grad-accum");
            var kind = parse.GetValue(schedule)!.ToLowerInvariant() switch
            {
                "constant" => ScheduleKind.Constant,
                "linear" => ScheduleKind.Linear,
                "cosine" => ScheduleKind.Cosine,
                var other => throw new AgoraException($"unknown schedule '{other}' (expected constant, linear or cosine)"),
            };
            var dataFormat = DatasetFormats.Parse(parse.GetValue(format)!);
            if (parse.GetValue(threads) is { } t) WorkerPool.SetSharedThreads(Positive(t, "--threads"));
            string modelPath = parse.GetValue(model)!, dataPath = parse.GetValue(data)!, outDir = parse.GetValue(output)!;
            if (!File.Exists(dataPath)) throw new AgoraException($"{dataPath}: no such data file");

            using var checkpoint = Checkpoint.Open(modelPath);
            var tokenizer = TokenizerSource.Load(checkpoint);
            var template = ChatTemplate.FromCheckpoint(checkpoint);
            ulong seedValue = parse.GetValue(seed);
            var adapter = parse.GetValue(initAdapter) is { } init
                ? LoraAdapter.Load(init, checkpoint)
                : LoraInitialization.Create(checkpoint,
                    [.. parse.GetValue(targets)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)],
                    parse.GetValue(rank), parse.GetValue(alpha), seedValue);
            var encoder = new ExampleEncoder(tokenizer, template, new EncodingOptions
            {
                Format = dataFormat,
                MaxLength = Positive(parse.GetValue(maxLength), "--max-len"),
                TrainOnInputs = parse.GetValue(trainOnInputs),
                SkipMalformed = parse.GetValue(skipBad),
            });
            var dataset = encoder.EncodeFile(dataPath);
            terminal.Err.WriteLine($"data: {dataset.Examples.Count} examples, {dataset.TokenCount} tokens" +
                $"{(dataset.Skipped > 0 ? $", {dataset.Skipped} malformed skipped" : "")}" +
                $"{(dataset.Truncated > 0 ? $", {dataset.Truncated} truncated to {parse.GetValue(maxLength)} tokens" : "")}" +
                $"{(dataset.DroppedAfterTruncation > 0 ? $", {dataset.DroppedAfterTruncation} dropped (nothing to score)" : "")}");

            var training = TrainableTransformer.ForLora(checkpoint, adapter);
            int padId = tokenizer.PadId ?? tokenizer.EosId ?? 0;
            var sampler = new BatchSampler(dataset.Examples, batchSize, padId, !parse.GetValue(noShuffle), seedValue);
            int totalSteps = parse.GetValue(steps) is { } s
                ? Positive(s, "--steps")
                : (Positive(parse.GetValue(epochs) ?? 1, "--epochs") * sampler.BatchesPerEpoch + accumulate - 1) / accumulate;
            int totalMicroBatches = parse.GetValue(steps) is null ? (parse.GetValue(epochs) ?? 1) * sampler.BatchesPerEpoch : int.MaxValue;
            var trainer = new Trainer(training, new AdamWOptions(WeightDecay: parse.GetValue(weightDecay)),
                new LearningRateSchedule(kind, parse.GetValue(rate), parse.GetValue(warmup), totalSteps), parse.GetValue(clip));

            var losses = new List<double>(totalSteps);
            long tokens = 0;
            int dealt = 0;
            var clock = Stopwatch.StartNew();
            for (int step = 0; step < totalSteps; step++)
            {
                var micro = new List<TrainingBatch>(accumulate);
                while (micro.Count < accumulate && dealt < totalMicroBatches) { micro.Add(sampler.Next()); dealt++; }
                var result = trainer.Step(micro);
                if (!double.IsFinite(result.Loss)) throw new AgoraException($"step {step + 1}: the loss is {result.Loss}; lower --lr or set --clip");
                losses.Add(result.Loss);
                tokens += micro.Sum(b => (long)b.Tokens.Length);
                double elapsed = clock.Elapsed.TotalSeconds;
                var eta = TimeSpan.FromSeconds(elapsed / (step + 1) * (totalSteps - step - 1));
                terminal.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {step + 1}/{totalSteps}  loss {result.Loss:F4}  lr {result.LearningRate:G3}  grad-norm {result.GradientNorm:G3}  {tokens / Math.Max(elapsed, 1e-9):F0} tokens/s  ETA {eta:hh\\:mm\\:ss}"));
            }

            var saved = new LoraAdapter(adapter.Weights, adapter.Rank, adapter.Alpha, adapter.UseRsLora)
            {
                TargetModules = adapter.TargetModules,
                TargetModulesRegex = adapter.TargetModulesRegex,
                LayersToTransform = adapter.LayersToTransform,
                BaseModel = adapter.BaseModel ?? Path.GetFullPath(modelPath),
            };
            PeftAdapterFormat.Write(saved, outDir);
            if (parse.GetValue(gguf)) GgufLoraFormat.Write(saved, Path.Combine(outDir, "adapter.gguf"), checkpoint.Config);
            AtomicFile.Write(Path.Combine(outDir, "training.json"), Record(parse, command, seedValue, dataPath, modelPath, dataset, totalSteps, losses));
            AtomicFile.Write(Path.Combine(outDir, "loss.svg"), System.Text.Encoding.UTF8.GetBytes(LossCurve.Svg(losses)));
            terminal.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outDir}: adapter (r {saved.Rank}, {saved.Weights.Count} weights), training.json, loss.svg; final loss {losses[^1]:F4} in {clock.Elapsed.TotalSeconds:F1} s"));
            return 0;
        }));
        return command;
    }

    static int Positive(int value, string flag) => value > 0 ? value : throw new AgoraException($"{flag} must be positive, not {value}");

    /// <summary>training.json: every option as given or defaulted, the seed, the inputs' SHA-256 and one loss per optimizer step.</summary>
    static byte[] Record(ParseResult parse, Command command, ulong seed, string dataPath, string modelPath, EncodedDataset dataset, int steps, List<double> losses)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("model", Path.GetFullPath(modelPath));
            json.WriteString("data", Path.GetFullPath(dataPath));
            json.WriteStartObject("arguments");
            foreach (var option in command.Options)
            {
                if (option.Name is "--help" or "-h" or "-?" or "--verbose") continue;
                object? value = parse.GetResult(option) is { } r ? r.GetValueOrDefault<object?>() : null;
                json.WritePropertyName(option.Name.TrimStart('-'));
                JsonSerializer.Serialize(json, value);
            }
            json.WriteEndObject();
            json.WriteNumber("seed", seed);
            json.WriteString("data_sha256", Sha256(dataPath));
            json.WriteStartObject("model_sha256");
            foreach (var file in ModelFiles(modelPath)) json.WriteString(Path.GetFileName(file), Sha256(file));
            json.WriteEndObject();
            json.WriteNumber("examples", dataset.Examples.Count);
            json.WriteNumber("skipped", dataset.Skipped);
            json.WriteNumber("truncated", dataset.Truncated);
            json.WriteNumber("steps", steps);
            json.WriteStartArray("losses");
            foreach (var loss in losses) json.WriteNumberValue(loss);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>The files that make the model: a GGUF file itself, or a folder's config and weights.</summary>
    static IEnumerable<string> ModelFiles(string path) => Directory.Exists(path)
        ? Directory.EnumerateFiles(path).Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || Path.GetFileName(f) == "config.json").Order(StringComparer.Ordinal)
        : [path];

    static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
