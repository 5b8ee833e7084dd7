using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>The schedules give Hugging Face's rates (warmup from 0, then constant, linear to 0, or half a cosine).</summary>
public sealed class LearningRateScheduleTests
{
    [Theory]
    [InlineData(ScheduleKind.Constant, new[] { 0f, 0.5f, 1f, 1f, 1f, 1f })]
    [InlineData(ScheduleKind.Linear, new[] { 0f, 0.5f, 1f, 0.75f, 0.5f, 0f })]
    [InlineData(ScheduleKind.Cosine, new[] { 0f, 0.5f, 1f, 0.853553f, 0.5f, 0f })]
    public void RatesFollowHuggingFace(ScheduleKind kind, float[] expected)
    {
        var schedule = new LearningRateSchedule(kind, 1f, WarmupSteps: 2, TotalSteps: 10);
        int[] steps = [0, 1, 2, 4, 6, 10];
        for (int i = 0; i < steps.Length; i++) Assert.Equal(expected[i], schedule.RateAt(steps[i]), 1e-5f);
    }
}
