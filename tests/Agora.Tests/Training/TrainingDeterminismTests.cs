using Agora.Tensors.Threading;
using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>Training is deterministic for a thread count, and steps after the first reuse the workspace instead of allocating.</summary>
public sealed class TrainingDeterminismTests
{
    static float[][] ThreeSteps()
    {
        using var f = new TrainingFixture("llama-a");
        var trainer = new Trainer(f.Training, new AdamWOptions(), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 1, 3), clipNorm: 1f);
        for (int step = 0; step < 3; step++) trainer.Step(f.Batch);
        return [.. f.Training.Parameters.Select(p => (float[])p.Value.Clone())];
    }

    [Fact]
    public void TwoRunsOfThreeStepsOnTwoThreadsGiveTheSameBits()
    {
        WorkerPool.SetSharedThreads(2);
        var first = ThreeSteps();
        var second = ThreeSteps();
        Assert.Equal(first.Length, second.Length);
        for (int i = 0; i < first.Length; i++) Assert.True(first[i].AsSpan().SequenceEqual(second[i]), $"parameter {i} differs between runs");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StepsAfterTheFirstAllocateAlmostNothing(bool checkpointing)
    {
        using var f = new TrainingFixture("llama-a");
        f.Training.GradientCheckpointing = checkpointing;
        var batch = f.Batch;
        var shorter = TrainingBatch.FromRows([.. f.Tokens.Select(r => r[..9])], [.. f.Labels.Select(r => r[..9])]);
        f.Training.AccumulateGradients(batch, batch.ScoredCount);
        foreach (var b in new[] { batch, shorter, batch })
        {
            // The least of three: a pass's own allocations show in every one, not a one-off from tests running alongside.
            long allocated = long.MaxValue;
            for (int repeat = 0; repeat < 3; repeat++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                f.Training.AccumulateGradients(b, b.ScoredCount);
                allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            TestContext.Current.TestOutputHelper?.WriteLine($"{b.Sequences}×{b.Length}: {allocated} bytes");
            Assert.True(allocated < 1024, $"a {b.Sequences}×{b.Length} pass allocated {allocated} bytes");
        }
    }
}
