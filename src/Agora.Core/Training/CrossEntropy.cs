namespace Agora.Training;

/// <summary>
/// Token cross-entropy with Hugging Face's shift: the logits at position t of a sequence are scored against the
/// label at t + 1; ignored labels (−100) and each sequence's last position score nothing.
/// </summary>
static class CrossEntropy
{
    /// <summary>
    /// Σ −log softmax(logits)[label] over the scored positions (in double), and, in place of the logits, the
    /// gradient of <paramref name="gradientScale"/> × that sum (zero rows where nothing is scored).
    /// </summary>
    public static double LossAndGradient(Span<float> logits, TrainingBatch batch, int vocab, float gradientScale)
    {
        double total = 0;
        int length = batch.Length;
        for (int row = 0; row < batch.Tokens.Length; row++)
        {
            var z = logits.Slice(row * vocab, vocab);
            int t = row % length;
            int label = t + 1 < length ? batch.Labels[row + 1] : TrainingBatch.Ignored;
            if (label == TrainingBatch.Ignored)
            {
                z.Clear();
                continue;
            }
            float max = System.Numerics.Tensors.TensorPrimitives.Max(z);
            double sum = 0;
            for (int i = 0; i < vocab; i++) sum += Math.Exp(z[i] - max);
            total += Math.Log(sum) - (z[label] - max);
            for (int i = 0; i < vocab; i++) z[i] = (float)(Math.Exp(z[i] - max) / sum * gradientScale);
            z[label] -= gradientScale;
        }
        return total;
    }
}
