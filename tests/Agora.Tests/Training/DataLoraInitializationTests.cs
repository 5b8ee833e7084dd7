using Agora.Formats.Checkpoint;
using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>A new adapter is initialised as PEFT does it: A ~ U(−1/√in, 1/√in), B = 0, fixed by the seed.</summary>
public sealed class DataLoraInitializationTests
{
    [Fact]
    public void AIsKaimingUniformAndBIsZero()
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        var adapter = LoraInitialization.Create(checkpoint, ["q_proj", "v_proj"], rank: 8, alpha: 16, seed: 3);
        Assert.Equal(2 * checkpoint.Config.LayerCount, adapter.Weights.Count);
        Assert.All(adapter.Weights, w => Assert.Matches(@"\.(q_proj|v_proj)\.weight$", w.Name));
        foreach (var w in adapter.Weights)
        {
            double bound = 1 / Math.Sqrt(w.In);
            Assert.All(w.B, b => Assert.Equal(0f, b));
            Assert.All(w.A, a => Assert.InRange(Math.Abs(a), 0, bound));
            // U(−b, b) has mean 0 and variance b²/3.
            double mean = w.A.Average(a => (double)a), variance = w.A.Average(a => (double)a * a);
            Assert.InRange(mean, -0.1 * bound, 0.1 * bound);
            Assert.InRange(variance / (bound * bound / 3), 0.85, 1.15);
        }
        var again = LoraInitialization.Create(checkpoint, ["q_proj", "v_proj"], 8, 16, seed: 3);
        var other = LoraInitialization.Create(checkpoint, ["q_proj", "v_proj"], 8, 16, seed: 4);
        Assert.Equal(adapter.Weights[0].A, again.Weights[0].A);
        Assert.NotEqual(adapter.Weights[0].A, other.Weights[0].A);
    }

    [Fact]
    public void AllTargetsEveryBlockMatrixAndUnknownTargetsAreRefused()
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        Assert.Equal(["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
            LoraInitialization.TargetableModules(checkpoint).Order(StringComparer.Ordinal));
        Assert.Equal(7 * checkpoint.Config.LayerCount, LoraInitialization.Create(checkpoint, ["all"], 4, 8, 0).Weights.Count);
        var e = Assert.Throws<AgoraException>(() => LoraInitialization.Create(checkpoint, ["q_proj", "query_key_value"], 4, 8, 0));
        Assert.Contains("no 'query_key_value' modules", e.Message);
        Assert.Contains("valid targets: ", e.Message);
        Assert.Contains("down_proj", e.Message);
    }
}
