namespace Agora.Tests.Tensors;

/// <summary>Seeded random inputs for the kernel tests.</summary>
static class TestData
{
    /// <summary>Approximately standard normal values (Box–Muller), reproducible from the seed.</summary>
    public static float[] Normal(int n, int seed, double scale = 1)
    {
        var random = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return x;
    }
}
