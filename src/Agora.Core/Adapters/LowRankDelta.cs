namespace Agora.Adapters;

/// <summary>
/// One low-rank update of a linear layer (LoRA): y += Scale · B(A x), with A [Rank, In] and B [Out, Rank] row-major
/// float32, both in Hugging Face row order (a model holding a weight's rows in another order applies
/// <see cref="WithRowsMoved"/>). Scale already folds in alpha/r (or alpha/√r) and the user's scale.
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

    /// <summary>
    /// The same update for a weight that holds this one's output row r at row <paramref name="rowOf"/>[r]: B's rows
    /// moved there (a new array), A shared.
    /// </summary>
    public LowRankDelta WithRowsMoved(IReadOnlyList<int> rowOf)
    {
        if (rowOf.Count != Out) throw new ArgumentException($"{rowOf.Count} row positions for {Out} rows", nameof(rowOf));
        var b = new float[B.Length];
        var taken = new bool[Out];
        for (int row = 0; row < Out; row++)
        {
            int to = rowOf[row];
            if ((uint)to >= (uint)Out || taken[to]) throw new ArgumentException($"the row positions are not a permutation of 0..{Out - 1}", nameof(rowOf));
            taken[to] = true;
            B.AsSpan(row * Rank, Rank).CopyTo(b.AsSpan(to * Rank, Rank));
        }
        return new LowRankDelta(A, b, Rank, In, Out, Scale);
    }
}
