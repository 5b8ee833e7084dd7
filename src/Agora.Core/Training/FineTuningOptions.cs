using System.Text.Json.Nodes;
using Agora.Training.Data;

namespace Agora.Training;

/// <summary>
/// Everything that decides what a fine-tuning run does; the defaults are the command line's. <see cref="Settings"/>
/// names each under its command-line flag (without the dashes) for checkpoints and the resume check.
/// </summary>
public sealed record FineTuningOptions
{
    // The data.
    public DatasetFormat Format { get; init; } = DatasetFormat.Alpaca;
    /// <summary>Examples are cut to this many tokens; with <see cref="Packing"/> also the length of a packed row.</summary>
    public int MaxLength { get; init; } = 1024;
    public bool TrainOnInputs { get; init; }
    public bool SkipMalformed { get; init; }
    /// <summary>Pack whole examples into rows of up to <see cref="MaxLength"/> tokens.</summary>
    public bool Packing { get; init; }
    /// <summary>The fraction of the examples held out for validation (chosen with the seed); 0 for none.</summary>
    public double ValidationSplit { get; init; }
    /// <summary>A separate validation file (same format), instead of <see cref="ValidationSplit"/>.</summary>
    public string? ValidationData { get; init; }

    // What trains.
    /// <summary>Train every weight instead of a LoRA adapter.</summary>
    public bool Full { get; init; }
    public int Rank { get; init; } = 8;
    public float Alpha { get; init; } = 16;
    /// <summary>Module names to adapt (q_proj, …), or the single name "all".</summary>
    public IReadOnlyList<string> Targets { get; init; } = ["q_proj", "v_proj"];
    /// <summary>A PEFT adapter to continue training instead of a new one.</summary>
    public string? InitAdapter { get; init; }

    // The optimisation.
    public float LearningRate { get; init; } = 2e-4f;
    /// <summary>Passes over the data; used when <see cref="Steps"/> is null (default 1).</summary>
    public int? Epochs { get; init; }
    /// <summary>Optimizer steps, instead of <see cref="Epochs"/>.</summary>
    public int? Steps { get; init; }
    public int BatchSize { get; init; } = 1;
    public int GradientAccumulation { get; init; } = 1;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Linear;
    public int WarmupSteps { get; init; }
    public float WeightDecay { get; init; }
    /// <summary>Clip gradients to this global norm; 0 turns clipping off.</summary>
    public float ClipNorm { get; init; } = 1;
    public ulong Seed { get; init; } = 42;
    public bool Shuffle { get; init; } = true;

    /// <summary>
    /// Keep only each block's input in the forward and recompute the rest during the backward: less memory, more time,
    /// the same gradients bit for bit (<see cref="TrainableTransformer.GradientCheckpointing"/>).
    /// </summary>
    public bool GradientCheckpointing { get; init; }

    // Checkpoints and evaluation: they change what is saved and measured, not what is trained.
    /// <summary>
    /// Write a checkpoint every this many optimizer steps; 0 for none. The default, 100, keeps what a killed run
    /// loses to minutes on a CPU while adding little time for the writing.
    /// </summary>
    public int SaveEvery { get; init; } = 100;
    /// <summary>Checkpoints kept (the newest); older ones are removed.</summary>
    public int SaveTotalLimit { get; init; } = 2;
    /// <summary>Evaluate every this many steps (and at the end); null: at each checkpoint and at the end.</summary>
    public int? EvalEvery { get; init; }

    /// <summary>
    /// The settings a resume does not compare with the checkpoint's: those that do not alter the trained weights or
    /// losses (gradient checkpointing included), and the validation file's path (its SHA-256 is compared instead, as the training data's is).
    /// </summary>
    internal static readonly IReadOnlySet<string> NotComparedOnResume = new HashSet<string> { "save-every", "save-total-limit", "eval-every", "val-data", "gradient-checkpointing" };

    public void Validate()
    {
        Positive(MaxLength, "max-len");
        Positive(BatchSize, "batch");
        Positive(GradientAccumulation, "grad-accum");
        if (Epochs is not null && Steps is not null) throw new AgoraException("give --epochs or --steps, not both");
        if (Epochs is { } e) Positive(e, "epochs");
        if (Steps is { } s) Positive(s, "steps");
        if (SaveEvery < 0) throw new AgoraException($"--save-every {SaveEvery} must be 0 (no checkpoints) or positive");
        Positive(SaveTotalLimit, "save-total-limit");
        if (EvalEvery is { } n) Positive(n, "eval-every");
        if (!(ValidationSplit >= 0 && ValidationSplit < 1))
            throw new AgoraException($"--val-split {ValidationSplit} must be a fraction in [0, 1)");
        if (ValidationSplit > 0 && ValidationData != null) throw new AgoraException("give --val-split or --val-data, not both");
        if (EvalEvery != null && ValidationSplit == 0 && ValidationData == null)
            throw new AgoraException("--eval-every needs a validation set (--val-split or --val-data)");
        if (Full && InitAdapter != null) throw new AgoraException("--init-adapter continues a LoRA adapter; full fine-tuning (--full) trains the weights themselves");
    }

    static void Positive(int value, string flag)
    {
        if (value <= 0) throw new AgoraException($"--{flag} must be positive, not {value}");
    }

    /// <summary>Every setting under its command-line flag, as a checkpoint records it.</summary>
    public JsonObject Settings() => new()
    {
        ["format"] = DatasetFormats.Name(Format),
        ["max-len"] = MaxLength,
        ["train-on-inputs"] = TrainOnInputs,
        ["skip-bad-lines"] = SkipMalformed,
        ["packing"] = Packing,
        ["val-split"] = ValidationSplit,
        ["val-data"] = ValidationData == null ? null : Path.GetFullPath(ValidationData),
        ["full"] = Full,
        ["r"] = Rank,
        ["alpha"] = Alpha,
        ["targets"] = new JsonArray([.. Targets.Select(t => JsonValue.Create(t))]),
        ["init-adapter"] = InitAdapter == null ? null : Path.GetFullPath(InitAdapter),
        ["lr"] = LearningRate,
        ["epochs"] = Epochs,
        ["steps"] = Steps,
        ["batch"] = BatchSize,
        ["grad-accum"] = GradientAccumulation,
        ["schedule"] = Schedule.ToString().ToLowerInvariant(),
        ["warmup"] = WarmupSteps,
        ["weight-decay"] = WeightDecay,
        ["clip"] = ClipNorm,
        ["seed"] = Seed,
        ["no-shuffle"] = !Shuffle,
        ["gradient-checkpointing"] = GradientCheckpointing,
        ["save-every"] = SaveEvery,
        ["save-total-limit"] = SaveTotalLimit,
        ["eval-every"] = EvalEvery,
    };
}
