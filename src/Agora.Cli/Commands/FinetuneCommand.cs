using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Agora.Adapters;
using Agora.Conversion;
using Agora.Formats;
using Agora.Formats.Checkpoint;
using Agora.Tensors.Threading;
using Agora.Training;
using Agora.Training.Data;

namespace Agora.Cli.Commands;

/// <summary>
/// <c>agora finetune MODEL --data FILE --out DIR …</c>: trains a LoRA adapter on a dataset (the run itself is
/// <see cref="FineTuning"/>) and writes a PEFT adapter folder — with --full the trained model, in its source's
/// format — the training record (training.json) and the loss curve (loss.svg) into DIR, beside the run's checkpoints.
/// </summary>
public static class FinetuneCommand
{
    static readonly FineTuningOptions Defaults = new();
    /// <summary>The file a full fine-tuning of a GGUF model writes into DIR.</summary>
    const string FullGgufFile = "model.gguf";

    public static Command Create(Terminal terminal)
    {
        var model = new Argument<string>("MODEL") { Description = "A GGUF file or a Hugging Face folder" };
        var data = new Option<string>("--data") { Description = "Training data: a JSON array or JSON Lines file", Required = true };
        var format = new Option<string>("--format") { Description = "alpaca, sharegpt, messages or tokens", DefaultValueFactory = _ => DatasetFormats.Name(Defaults.Format) };
        var output = new Option<string>("--out", "-o") { Description = "The folder to write the adapter, checkpoints and training record into", Required = true };
        var rank = new Option<int>("--r") { Description = "LoRA rank", DefaultValueFactory = _ => Defaults.Rank };
        var alpha = new Option<float>("--alpha") { Description = "lora_alpha (the update is scaled by alpha/r)", DefaultValueFactory = _ => Defaults.Alpha };
        var targets = new Option<string>("--targets") { Description = "Modules to adapt, comma-separated (q_proj,v_proj,…) or all", DefaultValueFactory = _ => string.Join(',', Defaults.Targets) };
        var rate = new Option<float>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => Defaults.LearningRate };
        var epochs = new Option<int?>("--epochs") { Description = "Passes over the data (default 1)" };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps (instead of --epochs)" };
        var batch = new Option<int>("--batch") { Description = "Examples (with --packing: packed rows) per micro-batch", DefaultValueFactory = _ => Defaults.BatchSize };
        var accumulation = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => Defaults.GradientAccumulation };
        var maxLength = new Option<int>("--max-len") { Description = "Examples are cut to this many tokens (with --packing: the packed row length)", DefaultValueFactory = _ => Defaults.MaxLength };
        var schedule = new Option<string>("--schedule") { Description = "constant, linear or cosine", DefaultValueFactory = _ => Defaults.Schedule.ToString().ToLowerInvariant() };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps" };
        var weightDecay = new Option<float>("--weight-decay") { Description = "AdamW's decoupled weight decay", DefaultValueFactory = _ => Defaults.WeightDecay };
        var clip = new Option<float>("--clip") { Description = "Clip gradients to this global norm (0: off)", DefaultValueFactory = _ => Defaults.ClipNorm };
        var seed = new Option<ulong>("--seed") { Description = "Seed for the adapter's initialisation, the validation split and the shuffle", DefaultValueFactory = _ => Defaults.Seed };
        var noShuffle = new Option<bool>("--no-shuffle") { Description = "Keep the file's order" };
        var initAdapter = new Option<string?>("--init-adapter") { Description = "Continue training this PEFT adapter instead of a new one" };
        var trainOnInputs = new Option<bool>("--train-on-inputs") { Description = "Score the prompt tokens too, not only the responses" };
        var skipBad = new Option<bool>("--skip-bad-lines") { Description = "Skip malformed records (counted) instead of stopping" };
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "Recompute each block's activations in the backward pass: less memory, about 1.5× the time, the same result" };
        var packing = new Option<bool>("--packing") { Description = "Pack whole examples into rows of up to --max-len tokens (each attends only to itself)" };
        var valSplit = new Option<double>("--val-split") { Description = "Hold out this fraction of the examples (chosen with the seed) for validation" };
        var valData = new Option<string?>("--val-data") { Description = "Validation data (same format), instead of --val-split" };
        var evalEvery = new Option<int?>("--eval-every") { Description = "Evaluate every N steps and at the end (default: at each checkpoint and at the end)" };
        var saveEvery = new Option<int>("--save-every") { Description = "Write a checkpoint every N optimizer steps (0: none)", DefaultValueFactory = _ => Defaults.SaveEvery };
        var saveLimit = new Option<int>("--save-total-limit") { Description = "Checkpoints kept (the newest)", DefaultValueFactory = _ => Defaults.SaveTotalLimit };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --out, as if never stopped" };
        var full = new Option<bool>("--full") { Description = "Full fine-tuning: train every weight and write the model, not a LoRA adapter" };
        var gguf = new Option<bool>("--gguf") { Description = "Also write the adapter as a llama.cpp GGUF LoRA (adapter.gguf)" };
        var threads = new Option<int?>("--threads", "-t") { Description = "Worker threads (default: one per core)" };
        var command = new Command("finetune", "Train a LoRA adapter (or with --full every weight) on a dataset")
        {
            model, data, format, output, rank, alpha, targets, rate, epochs, steps, batch, accumulation, maxLength, schedule,
            warmup, weightDecay, clip, seed, noShuffle, initAdapter, trainOnInputs, skipBad, packing, checkpointing, valSplit, valData,
            evalEvery, saveEvery, saveLimit, resume, full, gguf, threads,
        };
        command.SetAction(AgoraCli.Guarded(terminal, parse =>
        {
            bool trainAll = parse.GetValue(full);
            if (trainAll)
                foreach (var loraOnly in new Option[] { rank, alpha, targets, initAdapter, gguf })
                    if (parse.GetResult(loraOnly) is { Implicit: false })
                        throw new AgoraException($"{loraOnly.Name} is for LoRA adapters; full fine-tuning (--full) trains the weights themselves");
            var options = new FineTuningOptions
            {
                Format = DatasetFormats.Parse(parse.GetValue(format)!),
                MaxLength = parse.GetValue(maxLength),
                TrainOnInputs = parse.GetValue(trainOnInputs),
                SkipMalformed = parse.GetValue(skipBad),
                Packing = parse.GetValue(packing),
                GradientCheckpointing = parse.GetValue(checkpointing),
                Full = trainAll,
                ValidationSplit = parse.GetValue(valSplit),
                ValidationData = parse.GetValue(valData),
                Rank = parse.GetValue(rank),
                Alpha = parse.GetValue(alpha),
                Targets = [.. parse.GetValue(targets)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)],
                InitAdapter = parse.GetValue(initAdapter),
                LearningRate = parse.GetValue(rate),
                Epochs = parse.GetValue(epochs),
                Steps = parse.GetValue(steps),
                BatchSize = parse.GetValue(batch),
                GradientAccumulation = parse.GetValue(accumulation),
                Schedule = parse.GetValue(schedule)!.ToLowerInvariant() switch
                {
                    "constant" => ScheduleKind.Constant,
                    "linear" => ScheduleKind.Linear,
                    "cosine" => ScheduleKind.Cosine,
                    var other => throw new AgoraException($"unknown schedule '{other}' (expected constant, linear or cosine)"),
                },
                WarmupSteps = parse.GetValue(warmup),
                WeightDecay = parse.GetValue(weightDecay),
                ClipNorm = parse.GetValue(clip),
                Seed = parse.GetValue(seed),
                Shuffle = !parse.GetValue(noShuffle),
                SaveEvery = parse.GetValue(saveEvery),
                SaveTotalLimit = parse.GetValue(saveLimit),
                EvalEvery = parse.GetValue(evalEvery),
            };
            if (parse.GetValue(threads) is { } t)
                WorkerPool.SetSharedThreads(t > 0 ? t : throw new AgoraException($"--threads must be positive, not {t}"));
            string modelPath = parse.GetValue(model)!, dataPath = parse.GetValue(data)!, outDir = parse.GetValue(output)!;

            using var run = new FineTuning(modelPath, dataPath, outDir, options, parse.GetValue(resume));
            // With --full the trained model is written in its source's format: a Hugging Face folder is DIR itself,
            // a GGUF file goes into it. An output the export would refuse is refused before training.
            string? modelOutput = null;
            if (trainAll)
            {
                Directory.CreateDirectory(outDir);
                modelOutput = run.Model.Format == CheckpointFormat.Gguf ? Path.Combine(outDir, FullGgufFile) : outDir;
                ModelExport.CheckOutput(run.Model, modelOutput);
            }

            var dataset = run.Data;
            terminal.Err.WriteLine($"data: {dataset.Examples.Count} examples, {dataset.TokenCount} tokens" +
                $"{(dataset.Skipped > 0 ? $", {dataset.Skipped} malformed skipped" : "")}" +
                $"{(dataset.Truncated > 0 ? $", {dataset.Truncated} truncated to {options.MaxLength} tokens" : "")}" +
                $"{(dataset.DroppedAfterTruncation > 0 ? $", {dataset.DroppedAfterTruncation} dropped (nothing to score)" : "")}" +
                $"{(run.ValidationExamples > 0 ? $"; {run.ValidationExamples} validation examples" : "")}");
            if (run.ResumedFrom != null) terminal.Err.WriteLine($"resuming from {run.ResumedFrom} (step {run.StartStep} of {run.TotalSteps})");

            var bar = new ProgressBar(terminal);
            run.Run(progress =>
            {
                switch (progress)
                {
                    case StepTaken s:
                        bar.Step(s, run.StartStep);
                        break;
                    case Evaluated e:
                        bar.Line(string.Create(CultureInfo.InvariantCulture, $"eval after step {e.Step}: loss {e.Loss:F4}"));
                        break;
                    case CheckpointWritten c:
                        bar.Line($"checkpoint {c.Folder}");
                        break;
                }
            });
            bar.Finish();

            string written;
            if (run.Adapter is { } adapter)
            {
                PeftAdapterFormat.Write(adapter, outDir);
                if (parse.GetValue(gguf)) GgufLoraFormat.Write(adapter, Path.Combine(outDir, "adapter.gguf"), run.Model.Config);
                written = $"adapter (r {adapter.Rank}, {adapter.Weights.Count} weights)";
            }
            else
            {
                ModelExport.Write(run.Model, run.Trainable.Parameters.ToDictionary(p => p.Name, p => p.Value), modelOutput!);
                written = $"model ({run.Trainable.Parameters.Count} tensors trained{(modelOutput == outDir ? "" : $", {FullGgufFile}")})";
            }
            AtomicFile.Write(Path.Combine(outDir, "training.json"), Record(parse, command, dataPath, modelPath, run));
            AtomicFile.Write(Path.Combine(outDir, "loss.svg"), System.Text.Encoding.UTF8.GetBytes(LossCurve.Svg(run.Losses, run.EvalLosses)));
            terminal.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outDir}: {written}, training.json, loss.svg; final loss {run.Losses[^1]:F4} in {bar.Elapsed.TotalSeconds:F1} s"));
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// training.json: every option as given or defaulted, the seed, the inputs' SHA-256, one loss per optimizer step
    /// (all of the run's, across resumes) and the validation losses.
    /// </summary>
    static byte[] Record(ParseResult parse, Command command, string dataPath, string modelPath, FineTuning run)
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
            json.WriteNumber("seed", run.Options.Seed);
            json.WriteString("data_sha256", run.DataSha256);
            if (run.ValidationSha256 != null) json.WriteString("validation_sha256", run.ValidationSha256);
            json.WriteStartObject("model_sha256");
            foreach (var (file, hash) in run.ModelSha256) json.WriteString(file, hash);
            json.WriteEndObject();
            json.WriteNumber("examples", run.TrainingExamples);
            json.WriteNumber("validation_examples", run.ValidationExamples);
            json.WriteNumber("skipped", run.Data.Skipped);
            json.WriteNumber("truncated", run.Data.Truncated);
            json.WriteNumber("steps", run.TotalSteps);
            json.WriteStartArray("losses");
            foreach (var loss in run.Losses) json.WriteNumberValue(loss);
            json.WriteEndArray();
            json.WriteStartArray("eval_losses");
            foreach (var e in run.EvalLosses)
            {
                json.WriteStartObject();
                json.WriteNumber("step", e.Step);
                json.WriteNumber("loss", e.Loss);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
