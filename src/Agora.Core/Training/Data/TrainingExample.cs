namespace Agora.Training.Data;

/// <summary>
/// One tokenized example: <see cref="Labels"/> is aligned with <see cref="Tokens"/> as Hugging Face aligns them
/// (label t is the token at t when it is trained, <see cref="TrainingBatch.Ignored"/> when it is not; the loss shifts).
/// </summary>
public sealed record TrainingExample(int[] Tokens, int[] Labels)
{
    /// <summary>How many labels a batch would score (the first position is never scored).</summary>
    public int ScoredCount
    {
        get
        {
            int n = 0;
            for (int t = 1; t < Labels.Length; t++)
                if (Labels[t] != TrainingBatch.Ignored) n++;
            return n;
        }
    }
}
