using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>Gradient checkpointing recomputes each block's activations in the backward: the same arithmetic, so the same bits.</summary>
public sealed class GradientCheckpointingTests
{
    public static TheoryData<string, bool> Cases() => new()
    {
        { "llama-a", false }, { "qwen2-a", false }, { "bloom-a", false }, { "llama-a", true }, { "bloom-a", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void LossAndGradientsAreBitIdenticalWithAndWithout(string model, bool allWeights)
    {
        using var f = new TrainingFixture(model, allWeights);
        var batch = f.Batch;
        var (loss, gradients) = f.Gradients(batch);
        double forwardOnly = f.Training.Loss(batch);

        f.Training.GradientCheckpointing = true;
        var (checkpointedLoss, checkpointedGradients) = f.Gradients(batch);
        Assert.Equal(loss, checkpointedLoss);
        Assert.Equal(forwardOnly, f.Training.Loss(batch));
        for (int i = 0; i < gradients.Length; i++)
            Assert.True(gradients[i].AsSpan().SequenceEqual(checkpointedGradients[i]), $"{f.Training.Parameters[i].Name} differs with checkpointing");
        Assert.Contains(gradients, g => g.Any(v => v != 0));
    }
}
