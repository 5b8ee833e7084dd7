using Agora.Inference.Sampling;

namespace Agora.Training.Data;

/// <summary>Where a <see cref="BatchSampler"/> stands: enough to continue dealing exactly the same batches.</summary>
/// <param name="Epoch">Completed passes over the data.</param>
/// <param name="Order">This epoch's order of the examples (a permutation of their indices).</param>
/// <param name="Next">The next row of this epoch to deal.</param>
/// <param name="Random">The shuffle generator's state (<see cref="Xoshiro256.State"/>).</param>
public sealed record BatchSamplerState(int Epoch, int[] Order, int Next, ulong[] Random);

/// <summary>
/// Deals the examples into micro-batches, epoch after epoch: each epoch in a fresh seeded shuffle (Fisher–Yates
/// over xoshiro256**) or in the file's order. Each row of a batch holds one example, or with packing as many
/// whole examples as fit in <see cref="PackLength"/> tokens (first fit, in the epoch's order), each restarting at
/// position 0 and attending only within itself. Rows are right-padded to the batch's longest with
/// <see cref="PadId"/> and label −100: with causal attention the real tokens never see the padding after them,
/// so the loss and gradients are exactly those of the unpadded examples.
/// </summary>
public sealed class BatchSampler
{
    readonly IReadOnlyList<TrainingExample> _examples;
    readonly int[] _order;
    readonly bool _shuffle;
    readonly ulong _seed;
    readonly int _shortest;
    // This epoch's rows: the indices of the examples each holds (one each unless packing).
    readonly List<int[]> _rows = [];
    Xoshiro256 _random;
    int _next;

    public int BatchSize { get; }
    public int PadId { get; }
    /// <summary>Tokens a packed row holds at most, or 0 for one example per row.</summary>
    public int PackLength { get; }
    /// <summary>Completed passes over the data.</summary>
    public int Epoch { get; private set; }
    /// <summary>Micro-batches in the current epoch (the last may be smaller; with packing it depends on the shuffle).</summary>
    public int BatchesInEpoch => (_rows.Count + BatchSize - 1) / BatchSize;

    /// <param name="packLength">Pack examples into rows of up to this many tokens; 0 for one example per row.</param>
    public BatchSampler(IReadOnlyList<TrainingExample> examples, int batchSize, int padId, bool shuffle, ulong seed, int packLength = 0)
    {
        if (examples.Count == 0) throw new AgoraException("there are no training examples");
        if (batchSize <= 0) throw new AgoraException($"the batch size {batchSize} must be positive");
        if (packLength < 0) throw new AgoraException($"the packing length {packLength} must not be negative");
        if (packLength > 0 && examples.Max(e => e.Tokens.Length) is var longest && longest > packLength)
            throw new AgoraException($"an example of {longest} tokens does not fit a packed row of {packLength}");
        _examples = examples;
        BatchSize = batchSize;
        PadId = padId;
        PackLength = packLength;
        _shuffle = shuffle;
        _seed = seed;
        _shortest = examples.Min(e => e.Tokens.Length);
        _random = new Xoshiro256(seed);
        _order = new int[examples.Count];
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
        LayOutRows();
        _next = 0;
    }

    /// <summary>The epoch's rows from its order: one example each, or packed first fit.</summary>
    void LayOutRows()
    {
        _rows.Clear();
        if (PackLength == 0)
        {
            foreach (var index in _order) _rows.Add([index]);
            return;
        }
        var members = new List<List<int>>();
        var free = new List<int>();
        // Rows before this one cannot take even the shortest example: the search starts here (rows only fill up).
        int open = 0;
        foreach (var index in _order)
        {
            int length = _examples[index].Tokens.Length, row = open;
            while (row < free.Count && free[row] < length) row++;
            if (row == free.Count)
            {
                members.Add([]);
                free.Add(PackLength);
            }
            members[row].Add(index);
            free[row] -= length;
            while (open < free.Count && free[open] < _shortest) open++;
        }
        foreach (var m in members) _rows.Add([.. m]);
    }

    /// <summary>The next micro-batch; past the end of an epoch the next one begins.</summary>
    public TrainingBatch Next()
    {
        if (_next == _rows.Count)
        {
            Epoch++;
            StartEpoch();
        }
        int count = Math.Min(BatchSize, _rows.Count - _next);
        var rows = _rows.GetRange(_next, count);
        _next += count;
        if (PackLength > 0) return Pack(rows);
        var examples = new TrainingExample[count];
        for (int i = 0; i < count; i++) examples[i] = _examples[rows[i][0]];
        return Pad(examples, PadId);
    }

    /// <summary>Micro-batches in the first <paramref name="epochs"/> epochs from the seed (each packs differently when shuffled).</summary>
    public int BatchesIn(int epochs)
    {
        var fresh = new BatchSampler(_examples, BatchSize, PadId, _shuffle, _seed, PackLength);
        long total = fresh.BatchesInEpoch;
        for (int e = 1; e < epochs; e++)
        {
            fresh.StartEpoch();
            total += fresh.BatchesInEpoch;
        }
        return total <= int.MaxValue ? (int)total : throw new AgoraException($"{epochs} epochs make more than {int.MaxValue} micro-batches");
    }

    /// <summary>The position to save (see <see cref="Restore"/>).</summary>
    public BatchSamplerState State => new(Epoch, (int[])_order.Clone(), _next, _random.State);

    /// <summary>Continues from a saved position: the next batches are those the saving sampler would have dealt.</summary>
    public void Restore(BatchSamplerState state)
    {
        if (state.Epoch < 0) throw new AgoraException($"the data position's epoch {state.Epoch} is negative");
        if (state.Order.Length != _order.Length)
            throw new AgoraException($"the data position orders {state.Order.Length} examples, but there are {_order.Length}");
        var seen = new bool[_order.Length];
        foreach (var i in state.Order)
        {
            if ((uint)i >= (uint)seen.Length || seen[i]) throw new AgoraException("the data position's example order is not a permutation of the examples");
            seen[i] = true;
        }
        var random = Xoshiro256.FromState(state.Random);
        state.Order.CopyTo(_order, 0);
        LayOutRows();
        if (state.Next < 0 || state.Next > _rows.Count)
            throw new AgoraException($"the data position's next row {state.Next} is outside this epoch's {_rows.Count} rows");
        _random = random;
        _next = state.Next;
        Epoch = state.Epoch;
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

    /// <summary>
    /// One batch of packed rows: each example's tokens at positions 0, 1, … and its first label −100 (its first token
    /// is not the previous example's continuation); the padding after the last example is a segment of its own.
    /// </summary>
    TrainingBatch Pack(IReadOnlyList<int[]> rows)
    {
        int length = rows.Max(r => r.Sum(i => _examples[i].Tokens.Length));
        var tokens = new int[rows.Count * length];
        var labels = new int[rows.Count * length];
        var positions = new int[rows.Count * length];
        Array.Fill(tokens, PadId);
        Array.Fill(labels, TrainingBatch.Ignored);
        for (int r = 0; r < rows.Count; r++)
        {
            int at = r * length;
            foreach (var index in rows[r])
            {
                var e = _examples[index];
                e.Tokens.CopyTo(tokens, at);
                e.Labels.AsSpan(1).CopyTo(labels.AsSpan(at + 1));
                for (int t = 0; t < e.Tokens.Length; t++) positions[at + t] = t;
                at += e.Tokens.Length;
            }
            for (int t = 0; at + t < (r + 1) * length; t++) positions[at + t] = t;
        }
        return new TrainingBatch(tokens, labels, rows.Count, length, positions);
    }
}
