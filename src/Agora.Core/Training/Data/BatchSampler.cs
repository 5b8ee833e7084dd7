using Agora.Inference.Sampling;

namespace Agora.Training.Data;

/// <summary>
/// Deals the examples into micro-batches, epoch after epoch: each epoch in a fresh seeded shuffle (Fisher–Yates
/// over xoshiro256**) or in the file's order. A batch's rows are right-padded to its longest example with
/// <see cref="PadId"/> and label −100: with causal attention the real tokens never see the padding after them,
/// so the loss and gradients are exactly those of the unpadded examples.
/// </summary>
public sealed class BatchSampler
{
    readonly IReadOnlyList<TrainingExample> _examples;
    readonly int[] _order;
    readonly bool _shuffle;
    Xoshiro256 _random;
    int _next;

    public int BatchSize { get; }
    public int PadId { get; }
    /// <summary>Completed passes over the data.</summary>
    public int Epoch { get; private set; }
    /// <summary>Micro-batches in one epoch (the last may be smaller).</summary>
    public int BatchesPerEpoch => (_examples.Count + BatchSize - 1) / BatchSize;

    public BatchSampler(IReadOnlyList<TrainingExample> examples, int batchSize, int padId, bool shuffle, ulong seed)
    {
        if (examples.Count == 0) throw new AgoraException("there are no training examples");
        if (batchSize <= 0) throw new AgoraException($"the batch size {batchSize} must be positive");
        _examples = examples;
        BatchSize = batchSize;
        PadId = padId;
        _shuffle = shuffle;
        _random = new Xoshiro256(seed);
        _order = [.. Enumerable.Range(0, examples.Count)];
        StartEpoch();
    }

    void StartEpoch()
    {
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        if (_shuffle)
            for (int i = _order.Length - 1; i > 0; i--)
            {
                int j = (int)(_random.NextUInt64() % (ulong)(i + 1));
                (_order[i], _order[j]) = (_order[j], _order[i]);
            }
        _next = 0;
    }

    /// <summary>The next micro-batch; past the end of an epoch the next one begins.</summary>
    public TrainingBatch Next()
    {
        if (_next == _order.Length)
        {
            Epoch++;
            StartEpoch();
        }
        int count = Math.Min(BatchSize, _order.Length - _next);
        var rows = new TrainingExample[count];
        for (int i = 0; i < count; i++) rows[i] = _examples[_order[_next + i]];
        _next += count;
        return Pad(rows, PadId);
    }

    /// <summary>One batch of the examples, right-padded to the longest.</summary>
    public static TrainingBatch Pad(IReadOnlyList<TrainingExample> rows, int padId)
    {
        int length = rows.Max(r => r.Tokens.Length);
        var tokens = new int[rows.Count * length];
        var labels = new int[rows.Count * length];
        Array.Fill(tokens, padId);
        Array.Fill(labels, TrainingBatch.Ignored);
        for (int i = 0; i < rows.Count; i++)
        {
            rows[i].Tokens.CopyTo(tokens, i * length);
            rows[i].Labels.CopyTo(labels, i * length);
        }
        return new TrainingBatch(tokens, labels, rows.Count, length);
    }
}
