namespace Agora.Training;

/// <summary>What a <see cref="FineTuning"/> run reports as it goes.</summary>
public abstract record FineTuningProgress;

/// <summary>Optimizer step <paramref name="Step"/> (1-based) of <paramref name="TotalSteps"/> is done; <paramref name="Tokens"/> were trained on in it.</summary>
public sealed record StepTaken(int Step, int TotalSteps, StepResult Result, long Tokens) : FineTuningProgress;

/// <summary>The validation examples' mean token loss after step <paramref name="Step"/>.</summary>
public sealed record Evaluated(int Step, double Loss) : FineTuningProgress;

/// <summary>A complete checkpoint of step <paramref name="Step"/> is in <paramref name="Folder"/>.</summary>
public sealed record CheckpointWritten(int Step, string Folder) : FineTuningProgress;
