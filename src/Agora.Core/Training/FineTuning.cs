using System.Security.Cryptography;
using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Inference.Sampling;
using Agora.Templates;
using Agora.Tokenization;
using Agora.Training.Data;

namespace Agora.Training;

/// <summary>
/// A fine-tuning run: the model and data read, a LoRA adapter (or every weight) set up to train, the batches dealt,
/// the optimizer stepped, the validation set evaluated and checkpoints written into the output folder as it goes.
/// A run started with resume continues from the newest checkpoint exactly as if it had never stopped: same
/// batches, same moments, same schedule, so the same losses and the same trained bytes.
/// </summary>
public sealed class FineTuning : IDisposable
{
    /// <summary>Weights of a full fine-tuning checkpoint, under their Hugging Face names.</summary>
    public const string FullWeightsFile = "model.safetensors";

    readonly string _outputDir;
    readonly BatchSampler _sampler;
    readonly Trainer _trainer;
    readonly List<TrainingExample> _validation;
    readonly int _padId;
    readonly int _microBatchLimit;
    readonly List<double> _losses = [];
    readonly List<EvalLoss> _evalLosses = [];
    int _dealt;
    long _tokens;

    public FineTuningOptions Options { get; }
    /// <summary>The base model, open for as long as the run.</summary>
    public Checkpoint Model { get; }
    /// <summary>The training file as read, before any validation examples were held out of it.</summary>
    public EncodedDataset Data { get; }
    public int TrainingExamples { get; }
    public int ValidationExamples => _validation.Count;
    public int TotalSteps { get; }
    /// <summary>The checkpoint this run continues, or null for a fresh run.</summary>
    public string? ResumedFrom { get; }
    /// <summary>Steps taken before this run started (those of the checkpoint it resumed).</summary>
    public int StartStep { get; }
    /// <summary>The loss of every optimizer step, from the first of the run (across resumes).</summary>
    public IReadOnlyList<double> Losses => _losses;
    public IReadOnlyList<EvalLoss> EvalLosses => _evalLosses;
    public TrainableTransformer Trainable => _trainer.Model;
    /// <summary>The trained adapter as it is saved (its arrays are the ones training updates), or null when training every weight.</summary>
    public LoraAdapter? Adapter { get; }
    public IReadOnlyDictionary<string, string> ModelSha256 { get; }
    public string DataSha256 { get; }
    public string? ValidationSha256 { get; }

    /// <summary>
    /// Reads the model and data and prepares the run; with <paramref name="resume"/>, restores the newest checkpoint in
    /// <paramref name="outputDir"/>, refusing one made from another model, other data or other training arguments.
    /// </summary>
    public FineTuning(string modelPath, string dataPath, string outputDir, FineTuningOptions options, bool resume)
    {
        options.Validate();
        if (!File.Exists(dataPath)) throw new AgoraException($"{dataPath}: no such data file");
        if (options.ValidationData is { } v && !File.Exists(v)) throw new AgoraException($"{v}: no such validation data file");
        // Settle which checkpoint continues, if any, before the slow work of reading model and data.
        TrainingCheckpoint.RemoveUnfinished(outputDir);
        var newest = TrainingCheckpoint.FindNewest(outputDir);
        if (resume && newest == null)
            throw new AgoraException($"{outputDir}: no checkpoint to resume from (a run writes one every --save-every steps)");
        if (!resume && newest != null)
            throw new AgoraException($"{outputDir} holds checkpoints of an earlier run (newest {Path.GetFileName(newest)}): continue it with --resume, or write to another folder");
        Options = options;
        _outputDir = outputDir;
        Model = Checkpoint.Open(modelPath);
        try
        {
            var tokenizer = TokenizerSource.Load(Model);
            var encoder = new ExampleEncoder(tokenizer, ChatTemplate.FromCheckpoint(Model), new EncodingOptions
            {
                Format = options.Format,
                MaxLength = options.MaxLength,
                TrainOnInputs = options.TrainOnInputs,
                SkipMalformed = options.SkipMalformed,
            });
            Data = encoder.EncodeFile(dataPath);
            var (training, validation) = options.ValidationData is { } file
                ? ([.. Data.Examples], [.. encoder.EncodeFile(file).Examples])
                : HoldOut(Data.Examples, options.ValidationSplit, options.Seed);
            if (training.Count == 0)
                throw new AgoraException($"--val-split {options.ValidationSplit} holds out all {Data.Examples.Count} examples; none is left to train on");
            TrainingExamples = training.Count;
            _validation = validation;

            TrainableTransformer trainable;
            if (options.Full) trainable = TrainableTransformer.ForAllWeights(Model);
            else
            {
                var adapter = options.InitAdapter is { } init
                    ? LoraAdapter.Load(init, Model)
                    : LoraInitialization.Create(Model, options.Targets, options.Rank, options.Alpha, options.Seed);
                Adapter = new LoraAdapter(adapter.Weights, adapter.Rank, adapter.Alpha, adapter.UseRsLora)
                {
                    TargetModules = adapter.TargetModules,
                    TargetModulesRegex = adapter.TargetModulesRegex,
                    LayersToTransform = adapter.LayersToTransform,
                    BaseModel = adapter.BaseModel ?? Path.GetFullPath(modelPath),
                };
                trainable = TrainableTransformer.ForLora(Model, Adapter);
            }
            trainable.GradientCheckpointing = options.GradientCheckpointing;
            _padId = tokenizer.PadId ?? tokenizer.EosId ?? 0;
            _sampler = new BatchSampler(training, options.BatchSize, _padId, options.Shuffle, options.Seed, options.Packing ? options.MaxLength : 0);
            _microBatchLimit = options.Steps is null ? _sampler.BatchesIn(options.Epochs ?? 1) : int.MaxValue;
            TotalSteps = options.Steps ?? (_microBatchLimit + options.GradientAccumulation - 1) / options.GradientAccumulation;
            _trainer = new Trainer(trainable, new AdamWOptions(WeightDecay: options.WeightDecay),
                new LearningRateSchedule(options.Schedule, options.LearningRate, options.WarmupSteps, TotalSteps), options.ClipNorm);

            ModelSha256 = ModelFiles(modelPath).ToDictionary(f => Path.GetFileName(f), Sha256);
            DataSha256 = Sha256(dataPath);
            ValidationSha256 = options.ValidationData is { } vf ? Sha256(vf) : null;

            if (newest != null)
            {
                Restore(newest);
                ResumedFrom = newest;
                StartStep = _losses.Count;
            }
        }
        catch
        {
            Model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Splits off ⌈<paramref name="fraction"/> · n⌉ examples for validation (as Hugging Face datasets' train_test_split
    /// counts them), chosen by a shuffle seeded from <paramref name="seed"/>; both parts keep the file's order.
    /// </summary>
    public static (List<TrainingExample> Training, List<TrainingExample> Validation) HoldOut(IReadOnlyList<TrainingExample> examples, double fraction, ulong seed)
    {
        if (fraction <= 0) return ([.. examples], []);
        int count = (int)Math.Ceiling(fraction * examples.Count);
        // A stream of its own, so the split does not replay the first epoch's shuffle.
        var random = new Xoshiro256(seed ^ 0x5641_4C49_4441_5445UL);
        var order = Enumerable.Range(0, examples.Count).ToArray();
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = (int)(random.NextUInt64() % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        var held = new bool[examples.Count];
        foreach (var i in order.AsSpan(0, count)) held[i] = true;
        return ([.. examples.Where((_, i) => !held[i])], [.. examples.Where((_, i) => held[i])]);
    }

    /// <summary>Trains to the last step, reporting each step, evaluation and checkpoint.</summary>
    public void Run(Action<FineTuningProgress> progress)
    {
        var micro = new List<TrainingBatch>(Options.GradientAccumulation);
        for (int step = _losses.Count; step < TotalSteps; step++)
        {
            micro.Clear();
            while (micro.Count < Options.GradientAccumulation && _dealt < _microBatchLimit)
            {
                micro.Add(_sampler.Next());
                _dealt++;
            }
            var result = _trainer.Step(micro);
            if (!double.IsFinite(result.Loss)) throw new AgoraException($"step {step + 1}: the loss is {result.Loss}; lower --lr or set --clip");
            _losses.Add(result.Loss);
            long tokens = micro.Sum(b => (long)b.Tokens.Length);
            _tokens += tokens;
            progress(new StepTaken(step + 1, TotalSteps, result, tokens));

            int done = step + 1;
            bool save = Options.SaveEvery > 0 && done % Options.SaveEvery == 0;
            if (_validation.Count > 0 && (done == TotalSteps || (Options.EvalEvery is { } every ? done % every == 0 : save)))
            {
                double loss = Evaluate();
                if (!double.IsFinite(loss)) throw new AgoraException($"after step {done}: the validation loss is {loss}; lower --lr or set --clip");
                _evalLosses.Add(new EvalLoss(done, loss));
                progress(new Evaluated(done, loss));
            }
            if (save) progress(new CheckpointWritten(done, Save()));
        }
    }

    /// <summary>The mean token loss over every validation example (forward only, in batches of --batch).</summary>
    public double Evaluate()
    {
        if (_validation.Count == 0) throw new AgoraException("there is no validation set to evaluate (--val-split or --val-data)");
        double sum = 0;
        long scored = 0;
        for (int i = 0; i < _validation.Count; i += Options.BatchSize)
        {
            var batch = BatchSampler.Pad(_validation.GetRange(i, Math.Min(Options.BatchSize, _validation.Count - i)), _padId);
            sum += Trainable.Loss(batch) * batch.ScoredCount;
            scored += batch.ScoredCount;
        }
        return sum / scored;
    }

    string Save()
    {
        var state = new TrainingState(_losses.Count, [.. _losses], [.. _evalLosses], _dealt, _tokens, _sampler.State, _trainer.Schedule,
            ModelSha256, DataSha256, ValidationSha256);
        return TrainingCheckpoint.Write(_outputDir, state, Options.Settings(), _trainer, WriteWeights, Options.SaveTotalLimit);
    }

    /// <summary>The trained weights into <paramref name="folder"/>: a PEFT adapter, or every weight under its Hugging Face name.</summary>
    void WriteWeights(string folder)
    {
        if (Adapter != null)
        {
            PeftAdapterFormat.Write(Adapter, folder);
            return;
        }
        TrainingCheckpoint.WriteValues(Path.Combine(folder, FullWeightsFile), Trainable.Parameters);
    }

    void Restore(string checkpoint)
    {
        var state = TrainingCheckpoint.ReadState(checkpoint);
        CheckSameInputs(checkpoint, state);
        if (state.Losses.Count != state.Step)
            throw new AgoraFormatException(Path.Combine(checkpoint, TrainingCheckpoint.StateFile), $"records {state.Losses.Count} losses for {state.Step} steps");
        if (Adapter != null)
        {
            var saved = PeftAdapterFormat.Read(checkpoint);
            foreach (var w in Adapter.Weights)
            {
                var s = saved.Find(w.Name);
                if (s == null || s.A.Length != w.A.Length || s.B.Length != w.B.Length)
                    throw new AgoraFormatException(checkpoint, $"the checkpoint's adapter does not hold '{w.Name}' as this run trains it");
                s.A.CopyTo(w.A, 0);
                s.B.CopyTo(w.B, 0);
            }
        }
        else TrainingCheckpoint.RestoreValues(Path.Combine(checkpoint, FullWeightsFile), Trainable.Parameters);
        TrainingCheckpoint.RestoreOptimizer(checkpoint, _trainer);
        if (_trainer.StepCount != state.Step)
            throw new AgoraFormatException(checkpoint, $"the optimizer has taken {_trainer.StepCount} steps, the training state {state.Step}");
        _sampler.Restore(state.Data);
        _losses.AddRange(state.Losses);
        _evalLosses.AddRange(state.EvalLosses);
        _dealt = state.MicroBatches;
        _tokens = state.Tokens;
    }

    /// <summary>Refuses a checkpoint of another model, other data or other arguments that change what is trained, naming the difference.</summary>
    void CheckSameInputs(string checkpoint, TrainingState state)
    {
        string name = Path.GetFileName(checkpoint);
        foreach (var (file, hash) in ModelSha256)
            if (!state.ModelSha256.TryGetValue(file, out var old) || old != hash)
                throw new AgoraException($"the model is not the one {name} was trained from: {file} {(old == null ? "is new" : $"has SHA-256 {Short(hash)}, then {Short(old)}")}");
        if (state.ModelSha256.Keys.FirstOrDefault(k => !ModelSha256.ContainsKey(k)) is { } missing)
            throw new AgoraException($"the model is not the one {name} was trained from: it has no {missing}");
        if (state.DataSha256 != DataSha256)
            throw new AgoraException($"the training data is not the data {name} was trained on (SHA-256 {Short(DataSha256)}, then {Short(state.DataSha256)})");
        if (state.ValidationSha256 != ValidationSha256)
            throw new AgoraException($"the validation data is not the data {name} was evaluated on ({(ValidationSha256 == null ? "none given now" : state.ValidationSha256 == null ? "none then" : $"SHA-256 {Short(ValidationSha256)}, then {Short(state.ValidationSha256)}")})");
        var then = TrainingCheckpoint.ReadArguments(checkpoint);
        foreach (var (key, now) in Options.Settings())
        {
            if (FineTuningOptions.NotComparedOnResume.Contains(key)) continue;
            string a = then.TryGetPropertyValue(key, out var recorded) ? recorded?.ToJsonString() ?? "null" : "(not recorded)", b = now?.ToJsonString() ?? "null";
            if (a != b) throw new AgoraException($"--{key} is {b}, but {name} was trained with {a}; resume with the run's own arguments");
        }
    }

    static string Short(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;

    /// <summary>The files that make the model: a GGUF file itself, or a folder's config and weights.</summary>
    static IEnumerable<string> ModelFiles(string path) => Directory.Exists(path)
        ? Directory.EnumerateFiles(path).Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || Path.GetFileName(f) == "config.json").Order(StringComparer.Ordinal)
        : [path];

    static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public void Dispose() => Model.Dispose();
}
