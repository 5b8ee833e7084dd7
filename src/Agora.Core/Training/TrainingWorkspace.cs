namespace Agora.Training;

/// <summary>
/// The buffers of a <see cref="TrainableTransformer"/>'s passes that do not depend on its architecture, kept across
/// steps so that a step allocates nothing once a batch of its size has been seen: sized for a number of tokens and of
/// attention weights per block (grown, never shrunk, when a batch needs more), each pass using the front of each
/// buffer. The architecture's saved activations and gradient buffers are sized alongside (see
/// <see cref="TrainableTransformer"/>'s AllocateBlocks).
/// </summary>
sealed class TrainingWorkspace
{
    /// <summary>The most tokens a batch may have.</summary>
    public int Tokens { get; }
    /// <summary>The most attention weights (sequences × heads × length²) a batch may need per block.</summary>
    public int AttentionWeights { get; }
    /// <summary>Whether the blocks keep only their inputs (gradient checkpointing).</summary>
    public bool Checkpointing { get; }

    /// <summary>The residual stream [tokens, hidden], and where a checkpointed block's recomputed output goes.</summary>
    public float[] Hidden { get; }
    public float[] Recomputed { get; }
    /// <summary>Each block's input [tokens, hidden]: the residual the backward needs, and the checkpoints recompute starts from.</summary>
    public float[][] BlockInputs { get; }
    /// <summary>The head's input rows (scored positions only), their final norm, and the gradients of both.</summary>
    public float[] HeadInput { get; }
    public float[] HeadNormed { get; }
    public float[] HeadInputGradient { get; }
    public float[] HeadNormedGradient { get; }
    /// <summary>[up to <see cref="TrainableTransformer.HeadRows"/> scored rows, vocab] logits, turned into their gradients in place.</summary>
    public float[] Logits { get; }
    /// <summary>The gradient at the blocks' output, then (backward through them) at their input [tokens, hidden].</summary>
    public float[] Gradient { get; }
    /// <summary>Scratch for a linear layer's low-rank deltas: [tokens, max rank] in the forward, twice that in the backward.</summary>
    public float[] LoraScratch { get; }
    /// <summary>The batch rows whose logits are scored, the label each is scored against, and each one's loss.</summary>
    public int[] ScoredRows { get; }
    public int[] ScoredLabels { get; }
    public double[] RowLosses { get; }

    public TrainingWorkspace(int tokens, int attentionWeights, bool checkpointing, int hidden, int vocab, int layers, int maxRank)
    {
        Tokens = tokens;
        AttentionWeights = attentionWeights;
        Checkpointing = checkpointing;
        Hidden = Rows(tokens, hidden);
        Recomputed = checkpointing ? Rows(tokens, hidden) : [];
        BlockInputs = [.. Enumerable.Range(0, layers).Select(_ => Rows(tokens, hidden))];
        HeadInput = Rows(tokens, hidden);
        HeadNormed = Rows(tokens, hidden);
        HeadInputGradient = Rows(tokens, hidden);
        HeadNormedGradient = Rows(tokens, hidden);
        Logits = Rows(Math.Min(tokens, TrainableTransformer.HeadRows), vocab);
        Gradient = Rows(tokens, hidden);
        LoraScratch = Rows(tokens, 2 * maxRank);
        ScoredRows = new int[tokens];
        ScoredLabels = new int[tokens];
        RowLosses = new double[tokens];
    }

    /// <summary>A [tokens, width] float buffer, refusing sizes an array cannot hold.</summary>
    public static float[] Rows(int tokens, long width)
    {
        long length = tokens * width;
        if (length > Array.MaxLength)
            throw new AgoraException($"a batch of {tokens} tokens needs {length:N0} values in one training buffer, more than an array holds; use shorter or fewer sequences");
        return new float[length];
    }
}
