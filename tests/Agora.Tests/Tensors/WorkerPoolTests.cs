using Agora.Tensors.Threading;

namespace Agora.Tests.Tensors;

public class WorkerPoolTests
{
    // Back-to-back operations of 1..4 chunks, each writing its own slots: a worker that woke late and ran a chunk of
    // an operation already finished (or one not yet started) would leave a slot at 2 or a chunk past the count set.
    [Fact]
    public unsafe void BackToBackOperationsRunEachChunkExactlyOnce()
    {
        using var pool = new WorkerPool(3);
        const int Rounds = 4000, Slots = 4;
        var counts = new int[Rounds * Slots];
        fixed (int* c = counts)
            for (int round = 0; round < Rounds; round++)
                pool.Run(&Count, c + round * Slots, 1 + round % Slots);
        for (int round = 0; round < Rounds; round++)
            for (int chunk = 0; chunk < Slots; chunk++)
                Assert.Equal(chunk < 1 + round % Slots ? 1 : 0, counts[round * Slots + chunk]);
    }

    [Fact]
    public unsafe void RefusesMoreChunksThanItCanCount()
    {
        using var pool = new WorkerPool(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Run(&Count, null, WorkerPool.MaxChunks + 1));
    }

    static unsafe void Count(void* counts, int chunk) => Interlocked.Increment(ref ((int*)counts)[chunk]);
}
