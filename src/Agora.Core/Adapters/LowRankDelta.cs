namespace Agora.Adapters;

/// <summary>
/// One low-rank update of a linear layer (LoRA): y += Scale · B(A x), with A [Rank, In] and B [Out, Rank] row-major
/// float32, both in Hugging Face row order. Scale already folds in alpha/r (or alpha/√r) and the user's scale.
/// </summary>
public sealed class LowRankDelta
{
    public float[] A { get; }
    public float[] B { get; }
    public int Rank { get; }
    public int In { get; }
    public int Out { get; }
    public float Scale { get; }

    public LowRankDelta(float[] a, float[] b, int rank, int inFeatures, int outFeatures, float scale)
    {
        if (rank <= 0 || inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"rank {rank}, in {inFeatures} and out {outFeatures} must be positive");
        if (a.Length != (long)rank * inFeatures) throw new ArgumentException($"A holds {a.Length} values, not rank {rank} × in {inFeatures}");
        if (b.Length != (long)outFeatures * rank) throw new ArgumentException($"B holds {b.Length} values, not out {outFeatures} × rank {rank}");
        A = a;
        B = b;
        Rank = rank;
        In = inFeatures;
        Out = outFeatures;
        Scale = scale;
    }
}
