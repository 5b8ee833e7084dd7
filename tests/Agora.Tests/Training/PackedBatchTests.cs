using Agora.Tests.Models;
using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>
/// A packed batch (several examples per row, <see cref="TrainingBatch.Positions"/> restarting at each) trains exactly as
/// the padded batch of the same examples: rotary positions restart, each example attends only within itself, and
/// BLOOM's ALiBi takes positions within the example.
/// </summary>
public sealed class PackedBatchTests
{
    public static TheoryData<string, bool> Cases() => new()
    {
        { "llama-a", false }, { "qwen2-a", false }, { "bloom-a", false }, { "llama-a", true }, { "qwen2-a", true }, { "bloom-a", true },
    };

    const int Pad = 3;

    /// <summary>Three examples cut from the reference batch, the first label of each ignored (nothing precedes it).</summary>
    static (int[] Tokens, int[] Labels)[] Examples(TrainingFixture f)
    {
        (int[], int[]) Cut(int row, int start, int end)
        {
            int[] labels = f.Labels[row][start..end];
            labels[0] = TrainingBatch.Ignored;
            return (f.Tokens[row][start..end], labels);
        }
        return [Cut(0, 0, 11), Cut(1, 0, 15), Cut(0, 4, 11)];
    }

    /// <summary>One example per row, right-padded to the longest with ignored labels.</summary>
    static TrainingBatch Padded((int[] Tokens, int[] Labels)[] examples)
    {
        int length = examples.Max(e => e.Tokens.Length);
        int[] Row(int[] values, int fill) => [.. values, .. Enumerable.Repeat(fill, length - values.Length)];
        return TrainingBatch.FromRows([.. examples.Select(e => Row(e.Tokens, Pad))], [.. examples.Select(e => Row(e.Labels, TrainingBatch.Ignored))]);
    }

    /// <summary>
    /// Two rows of 20: examples 0 and 2 then two padding tokens, example 1 then five. The padding of each row is an
    /// example of its own (positions from 0), as a packing sampler lays it out.
    /// </summary>
    static TrainingBatch Packed((int[] Tokens, int[] Labels)[] examples, bool withPositions)
    {
        const int length = 20;
        var tokens = new List<int>();
        var labels = new List<int>();
        var positions = new List<int>();
        foreach (var row in new[] { new[] { 0, 2 }, new[] { 1 } })
        {
            foreach (var e in row.Select(i => examples[i]))
            {
                tokens.AddRange(e.Tokens);
                labels.AddRange(e.Labels);
                positions.AddRange(Enumerable.Range(0, e.Tokens.Length));
            }
            int padding = length - tokens.Count % length;
            tokens.AddRange(Enumerable.Repeat(Pad, padding));
            labels.AddRange(Enumerable.Repeat(TrainingBatch.Ignored, padding));
            positions.AddRange(Enumerable.Range(0, padding));
        }
        return new TrainingBatch([.. tokens], [.. labels], 2, length, withPositions ? [.. positions] : null);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void PackedBatchTrainsAsThePaddedOne(string model, bool allWeights)
    {
        using var f = new TrainingFixture(model, allWeights);
        var examples = Examples(f);
        var padded = Padded(examples);
        var packed = Packed(examples, withPositions: true);
        Assert.Equal(padded.ScoredCount, packed.ScoredCount);

        var (paddedLoss, paddedGradients) = f.Gradients(padded);
        var (packedLoss, packedGradients) = f.Gradients(packed);
        Assert.True(Math.Abs(packedLoss - paddedLoss) <= 1e-5 * paddedLoss, $"loss {packedLoss} packed vs {paddedLoss} padded");
        double worst = 0;
        for (int i = 0; i < paddedGradients.Length; i++)
        {
            double error = ModelReference.RelativeError(packedGradients[i], paddedGradients[i]);
            worst = Math.Max(worst, error);
            Assert.True(error <= 1e-5, $"{f.Training.Parameters[i].Name}: relative error {error:0.0e0}");
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{model}: loss difference {Math.Abs(packedLoss - paddedLoss):0.0e0}, worst gradient error {worst:0.0e0}");

        // Without positions the examples would see each other: the test tells the two apart.
        double unmasked = f.Training.Loss(Packed(examples, withPositions: false));
        Assert.True(Math.Abs(unmasked - paddedLoss) > 1e-3 * paddedLoss, $"unmasked packing gave the padded loss {unmasked}");
    }
}
