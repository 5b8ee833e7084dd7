using Agora.Models;

namespace Agora.Tests.Models;

/// <summary>The KV cache keeps what it stores as it grows, and refuses bad shapes without leaving anything behind.</summary>
public class KvCacheTests
{
    [Fact]
    public void GrowingKeepsEveryStoredRow()
    {
        var cache = new KvCache(2, 3, 100);
        cache.Reserve(5);
        Assert.Equal(16, cache.Capacity);
        for (int l = 0; l < 2; l++)
            for (int i = 0; i < 5 * 3; i++)
            {
                cache.Keys(l, 5)[i] = l * 1000 + i;
                cache.Values(l, 5)[i] = -(l * 1000 + i);
            }
        cache.Reserve(40);
        Assert.Equal(40, cache.Capacity);
        cache.Reserve(100);
        Assert.Equal(100, cache.Capacity);
        for (int l = 0; l < 2; l++)
            for (int i = 0; i < 5 * 3; i++)
            {
                Assert.Equal(l * 1000 + i, cache.Keys(l, 5)[i]);
                Assert.Equal(-(l * 1000 + i), cache.Values(l, 5)[i]);
            }
        Assert.Equal(100 * 3, cache.Keys(1, 100).Length);
        Assert.Throws<AgoraException>(() => cache.Reserve(101));
    }

    [Fact]
    public void PositionsBeyondTheAllocationAreRefused()
    {
        var cache = new KvCache(1, 4, 64);
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Keys(0, 1));
        cache.Reserve(1);
        Assert.Equal(16 * 4, cache.Values(0, 16).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Values(0, 17));
    }

    [Fact]
    public void RefusedShapesAreCollectedSafely()
    {
        Assert.Throws<ArgumentException>(() => new KvCache(0, 4, 4));
        Assert.Throws<AgoraException>(() => new KvCache(1, int.MaxValue, 4));
        // The finalizer of a cache whose constructor threw must not fault (that would end the process).
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }
}
