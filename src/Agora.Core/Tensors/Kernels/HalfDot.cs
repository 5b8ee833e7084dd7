using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Agora.Tensors.Kernels;

/// <summary>
/// Dot products of a 16-bit weight row (F16 or BF16 bits) with float activations, widening the halves to float in
/// registers instead of decoding the row into a buffer. .NET exposes no F16C/AVX-512 half conversion, so F16 is
/// widened by bit arithmetic: the exponent and mantissa shifted into float position and the exponent rebiased by
/// an integer add; a subnormal half becomes the float normal 2⁻¹⁴·(1 + m/1024) less 2⁻¹⁴, which is m·2⁻²⁴ exactly;
/// Inf/NaN get the float all-ones exponent; the sign goes back last. No float operation ever sees a subnormal
/// operand: Intel cores take a microcode assist of a hundred-odd cycles for one (K-quant super-block scales are
/// often half subnormals, and so are a few weights in every F16 row). BF16 is the top half of a float. Both
/// conversions are exact, so the results differ from the scalar twin only by float summation order.
/// </summary>
internal static unsafe class HalfDot
{
    public static float DotF16(Half* w, float* x, int n, SimdWidth width) => Dot<F16>((ushort*)w, x, n, width);

    public static float DotBF16(ushort* w, float* x, int n, SimdWidth width) => Dot<BF16>(w, x, n, width);

    // The element type is a struct type argument so the JIT compiles one specialised loop per type.
    static float Dot<T>(ushort* bits, float* x, int n, SimdWidth width) where T : struct, IWidening
    {
        int i = 0;
        float sum = 0;
        if (width == SimdWidth.V512)
        {
            Vector512<float> s0 = default, s1 = default;
            for (; i <= n - 32; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.Load(bits + i));
                s0 = Vector512.FusedMultiplyAdd(T.Widen(lo), Vector512.Load(x + i), s0);
                s1 = Vector512.FusedMultiplyAdd(T.Widen(hi), Vector512.Load(x + i + 16), s1);
            }
            sum = Vector512.Sum(s0 + s1);
        }
        else if (width == SimdWidth.V256)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i <= n - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(bits + i));
                s0 = Vector256.FusedMultiplyAdd(T.Widen(lo), Vector256.Load(x + i), s0);
                s1 = Vector256.FusedMultiplyAdd(T.Widen(hi), Vector256.Load(x + i + 8), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        else if (width == SimdWidth.V128)
        {
            Vector128<float> s0 = default, s1 = default;
            for (; i <= n - 8; i += 8)
            {
                var (lo, hi) = Vector128.Widen(Vector128.Load(bits + i));
                s0 = Vector128.FusedMultiplyAdd(T.Widen(lo), Vector128.Load(x + i), s0);
                s1 = Vector128.FusedMultiplyAdd(T.Widen(hi), Vector128.Load(x + i + 4), s1);
            }
            sum = Vector128.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += T.Widen(bits[i]) * x[i];
        return sum;
    }

    internal interface IWidening
    {
        static abstract float Widen(ushort h);
        static abstract Vector512<float> Widen(Vector512<uint> h);
        static abstract Vector256<float> Widen(Vector256<uint> h);
        static abstract Vector128<float> Widen(Vector128<uint> h);
    }

    struct BF16 : IWidening
    {
        public static float Widen(ushort h) => ElementConversion.BF16ToF32(h);
        public static Vector512<float> Widen(Vector512<uint> h) => Vector512.ShiftLeft(h, 16).AsSingle();
        public static Vector256<float> Widen(Vector256<uint> h) => Vector256.ShiftLeft(h, 16).AsSingle();
        public static Vector128<float> Widen(Vector128<uint> h) => Vector128.ShiftLeft(h, 16).AsSingle();
    }

    internal struct F16 : IWidening
    {
        const uint Magnitude = 0x0FFFE000, Sign = 0x80000000, HalfExponent = 0x7C00, FloatExponent = 0x7F800000;
        // Added to a half's shifted exponent: 127 − 15 for normals; for subnormals one more, giving 2⁻¹⁴·(1 + m/1024).
        const uint Rebias = 112 << 23, SubnormalRebias = 113 << 23;
        const float SubnormalBase = 6.103515625e-05f; // 2⁻¹⁴

        public static float Widen(ushort h) => ElementConversion.HalfToSingle(BitConverter.UInt16BitsToHalf(h));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Widen(Vector512<uint> h)
        {
            var magnitude = Vector512.ShiftLeft(h, 13) & Vector512.Create(Magnitude);
            var exponent = h & Vector512.Create(HalfExponent);
            var subnormal = ((magnitude + Vector512.Create(SubnormalRebias)).AsSingle() - Vector512.Create(SubnormalBase)).AsUInt32();
            var value = Vector512.ConditionalSelect(Vector512.Equals(exponent, Vector512<uint>.Zero), subnormal, magnitude + Vector512.Create(Rebias));
            value = Vector512.ConditionalSelect(Vector512.Equals(exponent, Vector512.Create(HalfExponent)), magnitude | Vector512.Create(FloatExponent), value);
            return (value | Vector512.ShiftLeft(h, 16) & Vector512.Create(Sign)).AsSingle();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Widen(Vector256<uint> h)
        {
            var magnitude = Vector256.ShiftLeft(h, 13) & Vector256.Create(Magnitude);
            var exponent = h & Vector256.Create(HalfExponent);
            var subnormal = ((magnitude + Vector256.Create(SubnormalRebias)).AsSingle() - Vector256.Create(SubnormalBase)).AsUInt32();
            var value = Vector256.ConditionalSelect(Vector256.Equals(exponent, Vector256<uint>.Zero), subnormal, magnitude + Vector256.Create(Rebias));
            value = Vector256.ConditionalSelect(Vector256.Equals(exponent, Vector256.Create(HalfExponent)), magnitude | Vector256.Create(FloatExponent), value);
            return (value | Vector256.ShiftLeft(h, 16) & Vector256.Create(Sign)).AsSingle();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Widen(Vector128<uint> h)
        {
            var magnitude = Vector128.ShiftLeft(h, 13) & Vector128.Create(Magnitude);
            var exponent = h & Vector128.Create(HalfExponent);
            var subnormal = ((magnitude + Vector128.Create(SubnormalRebias)).AsSingle() - Vector128.Create(SubnormalBase)).AsUInt32();
            var value = Vector128.ConditionalSelect(Vector128.Equals(exponent, Vector128<uint>.Zero), subnormal, magnitude + Vector128.Create(Rebias));
            value = Vector128.ConditionalSelect(Vector128.Equals(exponent, Vector128.Create(HalfExponent)), magnitude | Vector128.Create(FloatExponent), value);
            return (value | Vector128.ShiftLeft(h, 16) & Vector128.Create(Sign)).AsSingle();
        }
    }
}
