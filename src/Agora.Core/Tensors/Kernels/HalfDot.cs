using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Agora.Tensors.Kernels;

/// <summary>
/// Dot products of a 16-bit weight row (F16 or BF16 bits) with float activations, widening the halves to float in
/// registers instead of decoding the row into a buffer. .NET exposes no F16C/AVX-512 half conversion, so F16 is
/// widened by bit arithmetic: the exponent and mantissa shifted into float position and multiplied by 2¹¹² (which
/// rebiases the exponent and turns half subnormals into the right float normals, exactly), Inf/NaN given the float
/// all-ones exponent, the sign put back. BF16 is the top half of a float. Both conversions are exact, so the
/// results differ from the scalar twin only by float summation order.
/// </summary>
internal static unsafe class HalfDot
{
    public static float DotF16(Half* w, float* x, int n, SimdWidth width) => Dot(w, x, n, width, bf16: false);

    public static float DotBF16(ushort* w, float* x, int n, SimdWidth width) => Dot((Half*)w, x, n, width, bf16: true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // so each caller's bf16 is a constant
    static float Dot(Half* w, float* x, int n, SimdWidth width, bool bf16)
    {
        var bits = (ushort*)w;
        int i = 0;
        float sum = 0;
        if (width == SimdWidth.V512)
        {
            Vector512<float> s0 = default, s1 = default;
            for (; i <= n - 32; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.Load(bits + i));
                s0 = Vector512.FusedMultiplyAdd(Widen(lo, bf16), Vector512.Load(x + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Widen(hi, bf16), Vector512.Load(x + i + 16), s1);
            }
            sum = Vector512.Sum(s0 + s1);
        }
        else if (width == SimdWidth.V256)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i <= n - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(bits + i));
                s0 = Vector256.FusedMultiplyAdd(Widen(lo, bf16), Vector256.Load(x + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Widen(hi, bf16), Vector256.Load(x + i + 8), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        else if (width == SimdWidth.V128)
        {
            Vector128<float> s0 = default, s1 = default;
            for (; i <= n - 8; i += 8)
            {
                var (lo, hi) = Vector128.Widen(Vector128.Load(bits + i));
                s0 = Vector128.FusedMultiplyAdd(Widen(lo, bf16), Vector128.Load(x + i), s0);
                s1 = Vector128.FusedMultiplyAdd(Widen(hi, bf16), Vector128.Load(x + i + 4), s1);
            }
            sum = Vector128.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += (bf16 ? ElementConversion.BF16ToF32(bits[i]) : (float)w[i]) * x[i];
        return sum;
    }

    const uint MagnitudeMask = 0x7FFF, HalfExponent = 0x7C00, FloatExponent = 0x7F800000;
    const float Rebias = 5.192296858534828e33f; // 2¹¹² = 2^(127 − 15)

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Widen(Vector512<uint> h, bool bf16)
    {
        if (bf16) return Vector512.ShiftLeft(h, 16).AsSingle();
        var magnitude = Vector512.ShiftLeft(h & Vector512.Create(MagnitudeMask), 13);
        var value = (magnitude.AsSingle() * Vector512.Create(Rebias)).AsUInt32();
        var special = Vector512.Equals(h & Vector512.Create(HalfExponent), Vector512.Create(HalfExponent));
        value = Vector512.ConditionalSelect(special, magnitude | Vector512.Create(FloatExponent), value);
        return (value | Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Widen(Vector256<uint> h, bool bf16)
    {
        if (bf16) return Vector256.ShiftLeft(h, 16).AsSingle();
        var magnitude = Vector256.ShiftLeft(h & Vector256.Create(MagnitudeMask), 13);
        var value = (magnitude.AsSingle() * Vector256.Create(Rebias)).AsUInt32();
        var special = Vector256.Equals(h & Vector256.Create(HalfExponent), Vector256.Create(HalfExponent));
        value = Vector256.ConditionalSelect(special, magnitude | Vector256.Create(FloatExponent), value);
        return (value | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Widen(Vector128<uint> h, bool bf16)
    {
        if (bf16) return Vector128.ShiftLeft(h, 16).AsSingle();
        var magnitude = Vector128.ShiftLeft(h & Vector128.Create(MagnitudeMask), 13);
        var value = (magnitude.AsSingle() * Vector128.Create(Rebias)).AsUInt32();
        var special = Vector128.Equals(h & Vector128.Create(HalfExponent), Vector128.Create(HalfExponent));
        value = Vector128.ConditionalSelect(special, magnitude | Vector128.Create(FloatExponent), value);
        return (value | Vector128.ShiftLeft(h & Vector128.Create(0x8000u), 16)).AsSingle();
    }
}
