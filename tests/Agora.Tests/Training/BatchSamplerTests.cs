using Agora.Inference.Sampling;
using Agora.Training;
using Agora.Training.Data;

namespace Agora.Tests.Training;

/// <summary>Packing (rows, positions, labels) and saving / restoring where the sampler stands; no model needed.</summary>
public sealed class BatchSamplerTests
{
    /// <summary>Example i of length n: tokens 10i+1 … 10i+n, every label trained (its own token).</summary>
    static TrainingExample Example(int i, int length)
    {
        int[] tokens = [.. Enumerable.Range(10 * i + 1, length)];
        return new TrainingExample(tokens, (int[])tokens.Clone());
    }

    [Fact]
    public void PackingFillsRowsFirstFitWithPositionsAndMaskedFirstLabels()
    {
        // Lengths 3, 5, 2, 4, 1 into rows of 6, in file order: [0, 2, 4] (6), [1] (5), [3] (4).
        var examples = new[] { Example(0, 3), Example(1, 5), Example(2, 2), Example(3, 4), Example(4, 1) };
        var sampler = new BatchSampler(examples, batchSize: 2, padId: 99, shuffle: false, seed: 0, packLength: 6);
        Assert.Equal(2, sampler.BatchesInEpoch);
        const int x = TrainingBatch.Ignored;

        var first = sampler.Next();
        Assert.Equal((2, 6), (first.Sequences, first.Length));
        Assert.Equal([1, 2, 3, 21, 22, 41, /**/ 11, 12, 13, 14, 15, 99], first.Tokens);
        Assert.Equal([x, 2, 3, x, 22, x, /**/ x, 12, 13, 14, 15, x], first.Labels);
        Assert.Equal([0, 1, 2, 0, 1, 0, /**/ 0, 1, 2, 3, 4, 0], first.Positions!);
        Assert.Equal(7, first.ScoredCount);

        var second = sampler.Next();
        Assert.Equal((1, 4), (second.Sequences, second.Length));
        Assert.Equal([31, 32, 33, 34], second.Tokens);
        Assert.Equal([x, 32, 33, 34], second.Labels);
        Assert.Equal([0, 1, 2, 3], second.Positions!);
        Assert.Equal(0, sampler.Epoch);
        sampler.Next();
        Assert.Equal(1, sampler.Epoch);

        // Without packing a row is one example and the batch has no positions.
        var plain = new BatchSampler(examples, 2, 99, shuffle: false, seed: 0);
        Assert.Equal(3, plain.BatchesInEpoch);
        Assert.Null(plain.Next().Positions);

        var e = Assert.Throws<AgoraException>(() => new BatchSampler(examples, 2, 99, false, 0, packLength: 4));
        Assert.Contains("an example of 5 tokens does not fit a packed row of 4", e.Message);
    }

    [Fact]
    public void BatchesInCountsWhatShuffledPackingDeals()
    {
        var examples = Enumerable.Range(0, 40).Select(i => Example(i, 1 + i * 7 % 9)).ToList();
        var sampler = new BatchSampler(examples, 3, 0, shuffle: true, seed: 5, packLength: 12);
        int dealt = 0;
        for (var batch = sampler.Next(); sampler.Epoch < 3; batch = sampler.Next())
        {
            dealt++;
            Assert.True(batch.Length <= 12);
        }
        Assert.Equal(dealt, new BatchSampler(examples, 3, 0, true, 5, 12).BatchesIn(3));
    }

    [Fact]
    public void ARestoredSamplerDealsWhatTheOriginalWouldHave()
    {
        var examples = Enumerable.Range(0, 7).Select(i => Example(i, 1 + i % 4)).ToList();
        foreach (int pack in new[] { 0, 8 })
        {
            var original = new BatchSampler(examples, 2, 0, shuffle: true, seed: 11, packLength: pack);
            for (int i = 0; i < 5; i++) original.Next();
            var saved = original.State;
            var restored = new BatchSampler(examples, 2, 0, shuffle: true, seed: 999, packLength: pack);
            restored.Restore(saved);
            Assert.Equal(original.Epoch, restored.Epoch);
            for (int i = 0; i < 12; i++)
            {
                var (a, b) = (original.Next(), restored.Next());
                Assert.Equal(a.Tokens, b.Tokens);
                Assert.Equal(a.Labels, b.Labels);
                Assert.Equal(a.Positions, b.Positions);
            }
        }

        var sampler = new BatchSampler(examples, 2, 0, true, 1);
        var state = sampler.State;
        Assert.Contains("not a permutation", Assert.Throws<AgoraException>(() => sampler.Restore(state with { Order = [0, 0, 1, 2, 3, 4, 5] })).Message);
        Assert.Contains("orders 3 examples", Assert.Throws<AgoraException>(() => sampler.Restore(state with { Order = [0, 1, 2] })).Message);
        Assert.Contains("outside this epoch", Assert.Throws<AgoraException>(() => sampler.Restore(state with { Next = 8 })).Message);
        Assert.Contains("all zeros", Assert.Throws<AgoraException>(() => sampler.Restore(state with { Random = [0, 0, 0, 0] })).Message);
    }

    [Fact]
    public void XoshiroContinuesFromItsSavedState()
    {
        var random = new Xoshiro256(3);
        random.NextUInt64();
        var copy = Xoshiro256.FromState(random.State);
        for (int i = 0; i < 10; i++) Assert.Equal(random.NextUInt64(), copy.NextUInt64());
        Assert.Throws<AgoraException>(() => Xoshiro256.FromState([1, 2, 3]));
    }
}
