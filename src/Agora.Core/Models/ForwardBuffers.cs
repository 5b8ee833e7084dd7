using Agora.Formats.Checkpoint;

namespace Agora.Models;

/// <summary>
/// The activations of one forward pass over up to <see cref="Tokens"/> tokens, owned by a session and reused by
/// every pass, so decoding allocates nothing. Each buffer is [tokens, width], row-major.
/// </summary>
sealed class ForwardBuffers
{
    public int Tokens { get; }
    /// <summary>The residual stream.</summary>
    internal float[] Hidden { get; }
    /// <summary>Normalised input of a sub-layer, and then that sub-layer's output before the residual add.</summary>
    internal float[] Normed { get; }
    internal float[] Query { get; }
    /// <summary>Attention output: heads × head dim per token (BLOOM: the fused QKV projection before the split).</summary>
    internal float[] Attention { get; }
    internal float[] Up { get; }
    internal float[] Gate { get; }
    /// <summary>Attention weights of one query row over every key.</summary>
    internal float[] Scores { get; }
    internal float[] DeltaRank { get; }
    internal float[] DeltaOut { get; }

    internal ForwardBuffers(ModelConfig config, int tokens, int contextLength, int maxDeltaRank, int maxDeltaOut)
    {
        Tokens = tokens;
        int hidden = config.HiddenSize, attention = config.HeadCount * config.HeadDim, kv = config.KvHeadCount * config.HeadDim;
        Hidden = new float[tokens * hidden];
        Normed = new float[tokens * hidden];
        Query = new float[tokens * attention];
        Attention = new float[tokens * (config.Architecture == ModelArchitecture.Bloom ? attention + 2 * kv : attention)];
        Up = new float[tokens * config.IntermediateSize];
        Gate = config.UsesGatedMlp ? new float[tokens * config.IntermediateSize] : [];
        Scores = new float[contextLength];
        DeltaRank = new float[tokens * maxDeltaRank];
        DeltaOut = new float[tokens * maxDeltaOut];
    }
}
