using System.Diagnostics;

namespace Agora.Tensors.Threading;

/// <summary>
/// A fixed set of worker threads, created once and reused for every parallel operation, so the decode loop
/// creates no tasks, closures or other objects. The calling thread takes part in the work; an operation is a
/// function pointer plus a pointer to the caller's state (usually a struct on the caller's stack, alive because
/// <see cref="Run"/> returns only when every chunk is done) and a chunk count. Workers grab chunk indices from
/// a shared counter; between operations they spin briefly (operations come back to back within a forward pass)
/// and then block, so an idle pool costs no CPU.
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    // About how long a worker keeps spinning for the next operation before it blocks.
    static readonly long SpinTicks = Stopwatch.Frequency / 5000; // 200 µs

    static WorkerPool? shared;

    /// <summary>The pool the kernels use; sized to the processor count until <see cref="SetSharedThreads"/> changes it.</summary>
    public static WorkerPool Shared => shared ?? InitShared();

    /// <summary>Replaces the shared pool with one of <paramref name="threads"/> threads (the CLI's -t).</summary>
    public static void SetSharedThreads(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "at least one thread");
        if (shared?.Threads == threads) return;
        Interlocked.Exchange(ref shared, new WorkerPool(threads))?.Dispose();
    }

    static WorkerPool InitShared()
    {
        var pool = new WorkerPool(Environment.ProcessorCount);
        if (Interlocked.CompareExchange(ref shared, pool, null) != null) pool.Dispose();
        return shared!;
    }

    // An operation's chunks are claimed through one word: generation (24 bits) | chunk count (20) | next chunk (20).
    // A worker claims chunk i only by a compare-and-swap that finds its generation still current and i below the
    // count, so a worker waking late can never run (or read the state of) an operation that has finished, and the
    // caller waits only for the chunks actually claimed, never for a worker that has not yet woken (on a busy
    // machine, waiting for every worker to check in cost a scheduler time slice per operation).
    const int ChunkBits = 20;
    const long ChunkMask = (1L << ChunkBits) - 1;
    /// <summary>The most chunks one operation may have.</summary>
    internal const int MaxChunks = (int)ChunkMask;

    readonly Thread[] _workers;
    readonly object _gate = new(), _callers = new();
    delegate*<void*, int, void> _body;
    void* _state;
    long _claims;
    int _completed, _sleepers;
    volatile bool _disposed;
    Exception? _failure;

    /// <param name="threads">Threads doing the work, the caller's included (so threads − 1 are started).</param>
    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "at least one thread");
        Threads = threads;
        _workers = new Thread[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"Agora worker {i + 1}" };
            _workers[i].Start();
        }
    }

    public int Threads { get; }

    /// <summary>
    /// Calls body(state, c) once for every c in [0, chunks), spread over the pool's threads, and returns when all
    /// are done. A call made while the pool is busy (another caller, or from inside a chunk) runs its chunks
    /// inline on the calling thread instead of waiting.
    /// </summary>
    internal void Run(delegate*<void*, int, void> body, void* state, int chunks)
    {
        if (chunks <= 0) return;
        if (chunks > MaxChunks) throw new ArgumentOutOfRangeException(nameof(chunks), chunks, $"at most {MaxChunks} chunks");
        if (chunks == 1 || _workers.Length == 0 || _disposed || Monitor.IsEntered(_callers) || !Monitor.TryEnter(_callers))
        {
            for (int c = 0; c < chunks; c++) body(state, c);
            return;
        }
        try
        {
            _body = body;
            _state = state;
            _completed = 0;
            long generation = ((_claims >> (2 * ChunkBits)) + 1) & 0xFFFFFF;
            // Full fence: the fields above are visible before the new claims word.
            Interlocked.Exchange(ref _claims, generation << (2 * ChunkBits) | (long)chunks << ChunkBits);
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_gate) Monitor.PulseAll(_gate);
            RunChunks(generation);
            var wait = new SpinWait();
            while (Volatile.Read(ref _completed) < chunks) wait.SpinOnce(sleep1Threshold: -1);
            var failure = _failure;
            _failure = null;
            if (failure != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
        finally
        {
            Monitor.Exit(_callers);
        }
    }

    /// <summary>Claims and runs chunks of operation <paramref name="generation"/> until none is left.</summary>
    void RunChunks(long generation)
    {
        while (true)
        {
            long claims = Volatile.Read(ref _claims);
            int next = (int)(claims & ChunkMask), chunks = (int)(claims >> ChunkBits & ChunkMask);
            if (claims >> (2 * ChunkBits) != generation || next >= chunks) return;
            if (Interlocked.CompareExchange(ref _claims, claims + 1, claims) != claims) continue;
            // A failing chunk still counts as done (the caller would wait forever); its error goes to the caller.
            try { _body(_state, next); }
            catch (Exception e) { Interlocked.CompareExchange(ref _failure, e, null); }
            Interlocked.Increment(ref _completed);
        }
    }

    void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            while (Generation() == seen && !_disposed)
            {
                if (Stopwatch.GetTimestamp() - start < SpinTicks) { Thread.SpinWait(20); continue; }
                lock (_gate)
                {
                    Interlocked.Increment(ref _sleepers); // full fence, paired with Run's exchange of the claims word
                    while (Generation() == seen && !_disposed) Monitor.Wait(_gate);
                    Interlocked.Decrement(ref _sleepers);
                }
            }
            if (_disposed) return;
            seen = Generation();
            RunChunks(seen);
        }
    }

    long Generation() => Volatile.Read(ref _claims) >> (2 * ChunkBits);

    public void Dispose()
    {
        lock (_callers)
        {
            _disposed = true;
            lock (_gate) Monitor.PulseAll(_gate);
        }
    }
}
