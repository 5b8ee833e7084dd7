using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Agora.Tensors.Kernels;

namespace Agora.Tensors.Quantization;

/// <summary>
/// The vector core shared by the 32-element blocks whose values are small signed integers times one scale
/// (Q8_0 directly, Q4_0 once its nibbles are unpacked): 32 int8 values given as two halves of 16, widened to
/// float lanes and scaled into floats. The 512- and 256-bit forms use the x86
/// sign-extending widen instructions (those widths are accelerated only on x86); the 128-bit form is portable.
/// </summary>
internal static unsafe class Int8Lanes
{
    /// <summary>dst[0..32] = d · (first ++ second).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale(Vector128<sbyte> first, Vector128<sbyte> second, float d, float* dst, SimdWidth width)
    {
        if (width == SimdWidth.V512)
        {
            var vd = Vector512.Create(d);
            (Widen512(first) * vd).Store(dst);
            (Widen512(second) * vd).Store(dst + 16);
        }
        else if (width == SimdWidth.V256)
        {
            var vd = Vector256.Create(d);
            var (a, b) = Widen256(first);
            var (c, e) = Widen256(second);
            (a * vd).Store(dst); (b * vd).Store(dst + 8); (c * vd).Store(dst + 16); (e * vd).Store(dst + 24);
        }
        else
        {
            var vd = Vector128.Create(d);
            var (a, b, c, e) = Widen128(first);
            (a * vd).Store(dst); (b * vd).Store(dst + 4); (c * vd).Store(dst + 8); (e * vd).Store(dst + 12);
            (a, b, c, e) = Widen128(second);
            (a * vd).Store(dst + 16); (b * vd).Store(dst + 20); (c * vd).Store(dst + 24); (e * vd).Store(dst + 28);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Widen512(Vector128<sbyte> v) => Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<float>, Vector256<float>) Widen256(Vector128<sbyte> v) =>
        (Vector256.ConvertToSingle(Avx2.ConvertToVector256Int32(v)),
         Vector256.ConvertToSingle(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(v, 8))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector128<float>, Vector128<float>, Vector128<float>, Vector128<float>) Widen128(Vector128<sbyte> v)
    {
        var (lo, hi) = Vector128.Widen(v);
        var (a, b) = Vector128.Widen(lo);
        var (c, d) = Vector128.Widen(hi);
        return (Vector128.ConvertToSingle(a), Vector128.ConvertToSingle(b), Vector128.ConvertToSingle(c), Vector128.ConvertToSingle(d));
    }
}
