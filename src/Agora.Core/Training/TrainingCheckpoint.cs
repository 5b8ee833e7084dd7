using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agora.Formats;
using Agora.Formats.Safetensors;
using Agora.Training.Data;

namespace Agora.Training;

/// <summary>One evaluation: the mean token loss over the validation examples after optimizer step <see cref="Step"/>.</summary>
public readonly record struct EvalLoss(int Step, double Loss);

/// <summary>What a checkpoint records beside the weights and the optimizer's moments: enough to continue bit for bit.</summary>
/// <param name="Step">Optimizer steps taken.</param>
/// <param name="Losses">The loss of every step so far.</param>
/// <param name="MicroBatches">Micro-batches dealt so far.</param>
/// <param name="Tokens">Tokens trained on so far (padding included), for the throughput.</param>
/// <param name="ModelSha256">SHA-256 of each model file, by file name.</param>
/// <param name="ValidationSha256">SHA-256 of the validation file, when one was given.</param>
public sealed record TrainingState(
    int Step, IReadOnlyList<double> Losses, IReadOnlyList<EvalLoss> EvalLosses, int MicroBatches, long Tokens,
    BatchSamplerState Data, LearningRateSchedule Schedule,
    IReadOnlyDictionary<string, string> ModelSha256, string DataSha256, string? ValidationSha256);

/// <summary>
/// A run's checkpoint folders, laid out as Hugging Face Trainer lays out its own: <c>DIR/checkpoint-{step}/</c> holds
/// the trained weights (a PEFT adapter folder, or all weights), <see cref="OptimizerFile"/> (AdamW's moments, named
/// <c>exp_avg.NAME</c> / <c>exp_avg_sq.NAME</c>, the step count in the metadata), <see cref="StateFile"/> and
/// <see cref="ArgumentsFile"/>. A checkpoint is written into <c>checkpoint-{step}.tmp/</c> and renamed when
/// complete, so a folder without the suffix is always whole; a killed write leaves only a .tmp folder behind.
/// </summary>
public static class TrainingCheckpoint
{
    public const string Prefix = "checkpoint-";
    public const string StateFile = "trainer_state.json";
    public const string ArgumentsFile = "training_args.json";
    public const string OptimizerFile = "optimizer.safetensors";
    const string Unfinished = ".tmp";

    /// <summary>
    /// Writes <c>checkpoint-{state.Step}</c> in <paramref name="outputDir"/> (the weights through
    /// <paramref name="writeWeights"/>, given the folder), then removes all but the newest <paramref name="keep"/>.
    /// Returns the checkpoint's folder.
    /// </summary>
    public static string Write(string outputDir, TrainingState state, JsonObject arguments, Trainer trainer, Action<string> writeWeights, int keep)
    {
        string final = Path.Combine(outputDir, Prefix + state.Step.ToString(CultureInfo.InvariantCulture)), temp = final + Unfinished;
        try
        {
            Remove(temp);
            Directory.CreateDirectory(temp);
            writeWeights(temp);
            WriteOptimizer(Path.Combine(temp, OptimizerFile), trainer);
            AtomicFile.Write(Path.Combine(temp, ArgumentsFile), Encoding.UTF8.GetBytes(arguments.ToJsonString(Indented)));
            // The state goes last: a folder with it holds everything.
            AtomicFile.Write(Path.Combine(temp, StateFile), Encoding.UTF8.GetBytes(StateJson(state).ToJsonString(Indented)));
            Remove(final);
            Directory.Move(temp, final);
            foreach (var (_, old) in Complete(outputDir).SkipLast(keep)) Remove(old);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgoraException($"{final}: cannot write the checkpoint: {e.Message}", e);
        }
        return final;
    }

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The newest complete checkpoint folder in <paramref name="outputDir"/>, or null when it has none.</summary>
    public static string? FindNewest(string outputDir) => Complete(outputDir).Select(c => c.Folder).LastOrDefault();

    /// <summary>Deletes the .tmp folders that killed writes (or removals) left behind.</summary>
    public static void RemoveUnfinished(string outputDir)
    {
        if (!Directory.Exists(outputDir)) return;
        foreach (var folder in Directory.EnumerateDirectories(outputDir, Prefix + "*" + Unfinished)) Remove(folder);
    }

    /// <summary>The complete checkpoints (those holding their state file), oldest first.</summary>
    static List<(int Step, string Folder)> Complete(string outputDir)
    {
        var found = new List<(int Step, string Folder)>();
        if (!Directory.Exists(outputDir)) return found;
        foreach (var folder in Directory.EnumerateDirectories(outputDir, Prefix + "*"))
        {
            var digits = Path.GetFileName(folder).AsSpan(Prefix.Length);
            if (int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int step) && File.Exists(Path.Combine(folder, StateFile)))
                found.Add((step, folder));
        }
        found.Sort((a, b) => a.Step.CompareTo(b.Step));
        return found;
    }

    /// <summary>Removes a folder by first renaming it to .tmp, so a kill mid-way never leaves a partial checkpoint that looks whole.</summary>
    static void Remove(string folder)
    {
        if (!Directory.Exists(folder)) return;
        string doomed = folder.EndsWith(Unfinished, StringComparison.Ordinal) ? folder : folder + Unfinished;
        if (doomed != folder)
        {
            Remove(doomed);
            Directory.Move(folder, doomed);
        }
        Directory.Delete(doomed, recursive: true);
    }

    static void WriteOptimizer(string path, Trainer trainer)
    {
        var optimizer = trainer.Optimizer;
        var writer = new SafetensorsWriter([new("step", optimizer.StepCount.ToString(CultureInfo.InvariantCulture))]);
        var parameters = trainer.Model.Parameters;
        for (int i = 0; i < parameters.Count; i++)
        {
            long[] shape = [.. parameters[i].Shape.Select(d => (long)d)];
            writer.Add("exp_avg." + parameters[i].Name, SafetensorsDType.F32, shape, new FloatBytes(optimizer.FirstMoments[i]).Memory);
            writer.Add("exp_avg_sq." + parameters[i].Name, SafetensorsDType.F32, shape, new FloatBytes(optimizer.SecondMoments[i]).Memory);
        }
        writer.Write(path);
    }

    /// <summary>Every parameter's value as a float32 tensor of its name (Hugging Face's, for full fine-tuning).</summary>
    public static void WriteValues(string path, IReadOnlyList<TrainableParameter> parameters)
    {
        var writer = new SafetensorsWriter([new("format", "pt")]);
        foreach (var p in parameters) writer.Add(p.Name, SafetensorsDType.F32, [.. p.Shape.Select(d => (long)d)], new FloatBytes(p.Value).Memory);
        writer.Write(path);
    }

    /// <summary>Puts the optimizer's saved moments and step count back.</summary>
    public static void RestoreOptimizer(string checkpoint, Trainer trainer)
    {
        var path = Path.Combine(checkpoint, OptimizerFile);
        if (!File.Exists(path)) throw new AgoraException($"{checkpoint}: the checkpoint has no {OptimizerFile}");
        using var file = SafetensorsFile.Open(path);
        if (!file.Metadata.TryGetValue("step", out var text) || !int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int step))
            throw new AgoraFormatException(path, "the metadata gives no optimizer step count ('step')");
        var parameters = trainer.Model.Parameters;
        var first = parameters.Select(p => ReadF32(file, "exp_avg." + p.Name, p.Value.Length)).ToList();
        var second = parameters.Select(p => ReadF32(file, "exp_avg_sq." + p.Name, p.Value.Length)).ToList();
        trainer.Optimizer.Restore(step, first, second);
    }

    /// <summary>A float array's bytes as memory without a copy: a checkpoint of all weights would otherwise need their size again.</summary>
    sealed unsafe class FloatBytes(float[] values) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(values.AsSpan());

        public override MemoryHandle Pin(int elementIndex = 0)
        {
            var handle = GCHandle.Alloc(values, GCHandleType.Pinned);
            return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle, this);
        }

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }

    /// <summary>Every parameter's value from the float32 tensor of its name in a safetensors file.</summary>
    public static void RestoreValues(string path, IReadOnlyList<TrainableParameter> parameters)
    {
        using var file = SafetensorsFile.Open(path);
        foreach (var p in parameters) ReadF32(file, p.Name, p.Value.Length).CopyTo(p.Value, 0);
    }

    static float[] ReadF32(SafetensorsFile file, string name, int length)
    {
        var tensor = file.Get(name);
        if (tensor.DType != SafetensorsDType.F32 || tensor.ElementCount != length)
            throw new AgoraFormatException(file.Path, $"'{name}' is {tensor.DType}[{string.Join(", ", tensor.Shape)}], not the {length} float32 values this run trains");
        return MemoryMarshal.Cast<byte, float>(file.TensorData(tensor)).ToArray();
    }

    static JsonObject StateJson(TrainingState s) => new()
    {
        ["global_step"] = s.Step,
        ["losses"] = new JsonArray([.. s.Losses.Select(l => JsonValue.Create(l))]),
        ["eval_losses"] = new JsonArray([.. s.EvalLosses.Select(e => new JsonObject { ["step"] = e.Step, ["loss"] = e.Loss })]),
        ["micro_batches"] = s.MicroBatches,
        ["tokens"] = s.Tokens,
        ["data_position"] = new JsonObject
        {
            ["epoch"] = s.Data.Epoch,
            ["next"] = s.Data.Next,
            ["random"] = new JsonArray([.. s.Data.Random.Select(w => JsonValue.Create(w))]),
            ["order"] = new JsonArray([.. s.Data.Order.Select(i => JsonValue.Create(i))]),
        },
        ["schedule"] = new JsonObject
        {
            ["kind"] = s.Schedule.Kind.ToString().ToLowerInvariant(),
            ["peak_rate"] = s.Schedule.PeakRate,
            ["warmup_steps"] = s.Schedule.WarmupSteps,
            ["total_steps"] = s.Schedule.TotalSteps,
        },
        ["model_sha256"] = new JsonObject([.. s.ModelSha256.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)e.Value))]),
        ["data_sha256"] = s.DataSha256,
        ["validation_sha256"] = s.ValidationSha256,
    };

    /// <summary>Reads a checkpoint's <see cref="StateFile"/>; a damaged file is a format error naming it.</summary>
    public static TrainingState ReadState(string checkpoint)
    {
        var path = Path.Combine(checkpoint, StateFile);
        var root = Read(path);
        JsonNode Field(JsonNode node, string key) => node[key] ?? throw new AgoraFormatException(path, $"has no '{key}'");
        T Value<T>(JsonNode? node) => node is null ? throw new AgoraFormatException(path, "holds a null where a number belongs") : node.GetValue<T>();
        try
        {
            var data = Field(root, "data_position");
            var schedule = Field(root, "schedule");
            return new TrainingState(
                Value<int>(Field(root, "global_step")),
                [.. Field(root, "losses").AsArray().Select(Value<double>)],
                [.. Field(root, "eval_losses").AsArray().Select(e => new EvalLoss(Value<int>(Field(e!, "step")), Value<double>(Field(e!, "loss"))))],
                Value<int>(Field(root, "micro_batches")),
                Value<long>(Field(root, "tokens")),
                new BatchSamplerState(Value<int>(Field(data, "epoch")), [.. Field(data, "order").AsArray().Select(Value<int>)],
                    Value<int>(Field(data, "next")), [.. Field(data, "random").AsArray().Select(Value<ulong>)]),
                new LearningRateSchedule(Enum.Parse<ScheduleKind>(Value<string>(Field(schedule, "kind")), ignoreCase: true),
                    Value<float>(Field(schedule, "peak_rate")), Value<int>(Field(schedule, "warmup_steps")), Value<int>(Field(schedule, "total_steps"))),
                Field(root, "model_sha256").AsObject().ToDictionary(e => e.Key, e => Value<string>(e.Value)),
                Value<string>(Field(root, "data_sha256")),
                root["validation_sha256"]?.GetValue<string>());
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or OverflowException)
        {
            throw new AgoraFormatException(path, $"not a training state Agora wrote (a field is of the wrong kind: {e.Message})");
        }
    }

    /// <summary>Reads a checkpoint's <see cref="ArgumentsFile"/>: the run's settings.</summary>
    public static JsonObject ReadArguments(string checkpoint)
    {
        var path = Path.Combine(checkpoint, ArgumentsFile);
        return File.Exists(path) ? Read(path) : throw new AgoraException($"{checkpoint}: the checkpoint has no {ArgumentsFile}");
    }

    static JsonObject Read(string path) => JsonTree.Parse(File.ReadAllText(path), path) as JsonObject
        ?? throw new AgoraFormatException(path, "is not a JSON object");
}
