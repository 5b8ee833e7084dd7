using System.Numerics.Tensors;
using Agora.Tensors.Threading;

namespace Agora.Training;

/// <summary>
/// Token cross-entropy over the scored positions of a batch: with Hugging Face's shift, the logits at position t of a
/// sequence are scored against the label at t + 1, so the caller gathers the positions whose next label is scored
/// (not −100, not past the sequence's end) and passes their logits with those labels.
/// </summary>
static unsafe class CrossEntropy
{
    /// <summary>
    /// Σ −log softmax(logits)[label] over the rows of <paramref name="logits"/> ([labels.Length, vocab]), and, in place
    /// of the logits, the gradient of <paramref name="gradientScale"/> × that sum. Rows run on the shared
    /// <see cref="WorkerPool"/>; <paramref name="rowLosses"/> (one per row) are summed in row order, so the result does
    /// not depend on the thread count.
    /// </summary>
    public static double LossAndGradient(Span<float> logits, ReadOnlySpan<int> labels, int vocab, float gradientScale, Span<double> rowLosses)
    {
        int rows = labels.Length;
        if (logits.Length < (long)rows * vocab || rowLosses.Length < rows)
            throw new ArgumentException($"{rows} labels need {rows}×{vocab} logits and {rows} row losses");
        fixed (float* z = logits) fixed (int* l = labels) fixed (double* losses = rowLosses)
        {
            var job = new Job { Logits = z, Labels = l, Losses = losses, Vocab = vocab, Scale = gradientScale };
            WorkerPool.Shared.Run(&Row, &job, rows);
        }
        double total = 0;
        foreach (var loss in rowLosses[..rows]) total += loss;
        return total;
    }

    struct Job
    {
        public float* Logits;
        public int* Labels;
        public double* Losses;
        public int Vocab;
        public float Scale;
    }

    static void Row(void* state, int row)
    {
        ref var job = ref *(Job*)state;
        var z = new Span<float>(job.Logits + (long)row * job.Vocab, job.Vocab);
        int label = job.Labels[row];
        float max = TensorPrimitives.Max(z), target = z[label] - max;
        TensorPrimitives.Subtract(z, max, z);
        TensorPrimitives.Exp(z, z);
        double sum = TensorPrimitives.Sum(z);
        job.Losses[row] = Math.Log(sum) - target;
        TensorPrimitives.Multiply(z, (float)(job.Scale / sum), z);
        z[label] -= job.Scale;
    }
}
