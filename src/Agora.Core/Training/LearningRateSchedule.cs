namespace Agora.Training;

public enum ScheduleKind { Constant, Linear, Cosine }

/// <summary>
/// The learning rate at each optimizer step, as Hugging Face's schedulers give it (get_constant_schedule_with_warmup,
/// get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup with half a cycle): step s (0-based) of a warmup
/// of W steps runs at rate·s/W, then constant, linearly down to 0 at <see cref="TotalSteps"/>, or along half a cosine.
/// </summary>
public sealed record LearningRateSchedule(ScheduleKind Kind, float PeakRate, int WarmupSteps, int TotalSteps)
{
    public void Validate()
    {
        if (!(PeakRate >= 0) || !float.IsFinite(PeakRate)) throw new AgoraException($"learning rate {PeakRate} must be zero or positive");
        if (WarmupSteps < 0) throw new AgoraException($"warmup {WarmupSteps} must not be negative");
        if (Kind != ScheduleKind.Constant && TotalSteps <= 0) throw new AgoraException($"a {Kind} schedule needs the total number of steps (got {TotalSteps})");
    }

    /// <summary>The rate for 0-based optimizer step <paramref name="step"/>.</summary>
    public float RateAt(int step)
    {
        if (step < WarmupSteps) return (float)(PeakRate * ((double)step / Math.Max(1, WarmupSteps)));
        if (Kind == ScheduleKind.Constant) return PeakRate;
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        double factor = Kind == ScheduleKind.Linear
            ? Math.Max(0, 1 - progress)
            : Math.Max(0, 0.5 * (1 + Math.Cos(Math.PI * progress)));
        return (float)(PeakRate * factor);
    }
}
