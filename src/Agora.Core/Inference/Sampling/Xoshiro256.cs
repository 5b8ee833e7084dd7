namespace Agora.Inference.Sampling;

/// <summary>
/// xoshiro256** seeded through splitmix64 (Blackman and Vigna): a small generator whose output is fixed by its
/// definition, so a seed gives the same draws on every machine and .NET version (System.Random promises neither).
/// </summary>
public struct Xoshiro256
{
    ulong _s0, _s1, _s2, _s3;

    public Xoshiro256(ulong seed)
    {
        _s0 = SplitMix(ref seed);
        _s1 = SplitMix(ref seed);
        _s2 = SplitMix(ref seed);
        _s3 = SplitMix(ref seed);
    }

    /// <summary>The generator's four state words, to save now and continue the same sequence later with <see cref="FromState"/>.</summary>
    public readonly ulong[] State => [_s0, _s1, _s2, _s3];

    /// <summary>A generator that continues from a saved <see cref="State"/>.</summary>
    public static Xoshiro256 FromState(IReadOnlyList<ulong> state)
    {
        if (state.Count != 4) throw new AgoraException($"a xoshiro256** state is 4 words, not {state.Count}");
        // All zeros is the one state xoshiro never reaches (it would stay zero forever).
        if (state.All(w => w == 0)) throw new AgoraException("a xoshiro256** state cannot be all zeros");
        var random = new Xoshiro256();
        (random._s0, random._s1, random._s2, random._s3) = (state[0], state[1], state[2], state[3]);
        return random;
    }

    static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
