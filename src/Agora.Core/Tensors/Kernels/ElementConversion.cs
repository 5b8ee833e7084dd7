using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Agora.Tensors.Kernels;

/// <summary>
/// Conversions between float32 and the 16-bit element types of checkpoints. F16 (IEEE binary16) goes through
/// TensorPrimitives, which is exact and vectorised both ways (round-to-nearest-even). BF16 values are passed as
/// their raw bits (<see cref="ushort"/>); narrowing rounds to nearest even and turns NaN into the quiet NaN 0x7FC0,
/// as PyTorch does.
/// </summary>
public static class ElementConversion
{
    public static void F16ToF32(ReadOnlySpan<Half> src, Span<float> dst)
    {
        CheckLengths(src.Length, dst.Length);
        TensorPrimitives.ConvertToSingle(src, dst);
    }

    public static void F32ToF16(ReadOnlySpan<float> src, Span<Half> dst)
    {
        CheckLengths(src.Length, dst.Length);
        TensorPrimitives.ConvertToHalf(src, dst);
    }

    public static void BF16ToF32(ReadOnlySpan<ushort> src, Span<float> dst) => BF16ToF32(src, dst, Simd.Best);

    public static void F32ToBF16(ReadOnlySpan<float> src, Span<ushort> dst) => F32ToBF16(src, dst, Simd.Best);

    /// <summary>
    /// One F16 value widened, exactly as <c>(float)half</c> but in a few integer operations (the block scales of
    /// the quantized kernels take one per 32 values), the way <see cref="HalfDot"/> widens its vectors: exponent and
    /// mantissa moved into float position and rebiased by an integer add; subnormals through a float subtraction of
    /// normals (never a subnormal operand, which costs Intel cores a microcode assist); Inf and NaN get the float
    /// all-ones exponent.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HalfToSingle(Half value)
    {
        uint h = BitConverter.HalfToUInt16Bits(value);
        uint magnitude = (h & 0x7FFF) << 13, exponent = h & 0x7C00;
        uint bits = exponent == 0x7C00 ? magnitude | 0x7F800000
            : exponent != 0 ? magnitude + (112u << 23)
            : BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(magnitude + (113u << 23)) - 6.103515625e-05f);
        return BitConverter.UInt32BitsToSingle(bits | (h & 0x8000) << 16);
    }

    /// <summary>One BF16 value widened: its bits are the top half of the float32.</summary>
    public static float BF16ToF32(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>One float32 narrowed to BF16 bits, rounding to nearest even.</summary>
    public static ushort F32ToBF16(float value)
    {
        if (float.IsNaN(value)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }

    internal static void BF16ToF32(ReadOnlySpan<ushort> src, Span<float> dst, SimdWidth width)
    {
        CheckLengths(src.Length, dst.Length);
        ref ushort s = ref MemoryMarshal.GetReference(src);
        ref uint d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(dst));
        int n = src.Length, i = 0;
        if (width == SimdWidth.V512)
            for (; i <= n - 32; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref s, (nuint)i));
                Vector512.ShiftLeft(lo, 16).StoreUnsafe(ref d, (nuint)i);
                Vector512.ShiftLeft(hi, 16).StoreUnsafe(ref d, (nuint)(i + 16));
            }
        else if (width == SimdWidth.V256)
            for (; i <= n - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                Vector256.ShiftLeft(lo, 16).StoreUnsafe(ref d, (nuint)i);
                Vector256.ShiftLeft(hi, 16).StoreUnsafe(ref d, (nuint)(i + 8));
            }
        else if (width == SimdWidth.V128)
            for (; i <= n - 8; i += 8)
            {
                var (lo, hi) = Vector128.Widen(Vector128.LoadUnsafe(ref s, (nuint)i));
                Vector128.ShiftLeft(lo, 16).StoreUnsafe(ref d, (nuint)i);
                Vector128.ShiftLeft(hi, 16).StoreUnsafe(ref d, (nuint)(i + 4));
            }
        for (; i < n; i++) Unsafe.Add(ref d, i) = (uint)Unsafe.Add(ref s, i) << 16;
    }

    internal static void F32ToBF16(ReadOnlySpan<float> src, Span<ushort> dst, SimdWidth width)
    {
        CheckLengths(src.Length, dst.Length);
        ref float s = ref MemoryMarshal.GetReference(src);
        ref ushort d = ref MemoryMarshal.GetReference(dst);
        int n = src.Length, i = 0;
        if (width == SimdWidth.V512)
            for (; i <= n - 32; i += 32)
                Vector512.Narrow(RoundBF16(Vector512.LoadUnsafe(ref s, (nuint)i)), RoundBF16(Vector512.LoadUnsafe(ref s, (nuint)(i + 16))))
                    .StoreUnsafe(ref d, (nuint)i);
        else if (width == SimdWidth.V256)
            for (; i <= n - 16; i += 16)
                Vector256.Narrow(RoundBF16(Vector256.LoadUnsafe(ref s, (nuint)i)), RoundBF16(Vector256.LoadUnsafe(ref s, (nuint)(i + 8))))
                    .StoreUnsafe(ref d, (nuint)i);
        else if (width == SimdWidth.V128)
            for (; i <= n - 8; i += 8)
                Vector128.Narrow(RoundBF16(Vector128.LoadUnsafe(ref s, (nuint)i)), RoundBF16(Vector128.LoadUnsafe(ref s, (nuint)(i + 4))))
                    .StoreUnsafe(ref d, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref d, i) = F32ToBF16(Unsafe.Add(ref s, i));
    }

    // The same rounding as the scalar form, lane-wise; the result is in the low 16 bits of each lane.
    static Vector512<uint> RoundBF16(Vector512<float> v)
    {
        var bits = v.AsUInt32();
        var rounded = (bits + Vector512.Create(0x7FFFu) + ((bits >> 16) & Vector512<uint>.One)) >> 16;
        return Vector512.ConditionalSelect(Vector512.Equals(v, v).AsUInt32(), rounded, Vector512.Create(0x7FC0u));
    }

    static Vector256<uint> RoundBF16(Vector256<float> v)
    {
        var bits = v.AsUInt32();
        var rounded = (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One)) >> 16;
        return Vector256.ConditionalSelect(Vector256.Equals(v, v).AsUInt32(), rounded, Vector256.Create(0x7FC0u));
    }

    static Vector128<uint> RoundBF16(Vector128<float> v)
    {
        var bits = v.AsUInt32();
        var rounded = (bits + Vector128.Create(0x7FFFu) + ((bits >> 16) & Vector128<uint>.One)) >> 16;
        return Vector128.ConditionalSelect(Vector128.Equals(v, v).AsUInt32(), rounded, Vector128.Create(0x7FC0u));
    }

    static void CheckLengths(int source, int destination)
    {
        if (source != destination) throw new ArgumentException($"destination has {destination} elements, source {source}");
    }
}
