using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Agora.Tensors.Kernels;

/// <summary>An elementwise float operation written once per vector width, in the style of TensorPrimitives.</summary>
internal interface IUnaryOperator
{
    static abstract float Invoke(float x);
    static abstract Vector128<float> Invoke(Vector128<float> x);
    static abstract Vector256<float> Invoke(Vector256<float> x);
    static abstract Vector512<float> Invoke(Vector512<float> x);
}

internal interface IBinaryOperator
{
    static abstract float Invoke(float x, float y);
    static abstract Vector128<float> Invoke(Vector128<float> x, Vector128<float> y);
    static abstract Vector256<float> Invoke(Vector256<float> x, Vector256<float> y);
    static abstract Vector512<float> Invoke(Vector512<float> x, Vector512<float> y);
}

/// <summary>
/// The one loop behind every elementwise kernel: whole vectors at the chosen width, the tail element by element
/// with the scalar form (never an overlapping vector, so in-place use stays correct).
/// </summary>
internal static class ElementwiseDriver
{
    public static void Map<TOp>(ReadOnlySpan<float> x, Span<float> dst, SimdWidth width) where TOp : IUnaryOperator
    {
        if (dst.Length != x.Length) throw new ArgumentException($"destination has {dst.Length} elements, source {x.Length}");
        ref float xs = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float ds = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dst);
        int n = x.Length, i = 0;
        if (width == SimdWidth.V512)
            for (; i <= n - 16; i += 16) TOp.Invoke(Vector512.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
        else if (width == SimdWidth.V256)
            for (; i <= n - 8; i += 8) TOp.Invoke(Vector256.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
        else if (width == SimdWidth.V128)
            for (; i <= n - 4; i += 4) TOp.Invoke(Vector128.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref ds, i) = TOp.Invoke(Unsafe.Add(ref xs, i));
    }

    public static void Map<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> dst, SimdWidth width)
        where TOp : IBinaryOperator
    {
        if (y.Length != x.Length || dst.Length != x.Length)
            throw new ArgumentException($"operand lengths differ: {x.Length}, {y.Length}, destination {dst.Length}");
        ref float xs = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float ys = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(y);
        ref float ds = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dst);
        int n = x.Length, i = 0;
        if (width == SimdWidth.V512)
            for (; i <= n - 16; i += 16)
                TOp.Invoke(Vector512.LoadUnsafe(ref xs, (nuint)i), Vector512.LoadUnsafe(ref ys, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
        else if (width == SimdWidth.V256)
            for (; i <= n - 8; i += 8)
                TOp.Invoke(Vector256.LoadUnsafe(ref xs, (nuint)i), Vector256.LoadUnsafe(ref ys, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
        else if (width == SimdWidth.V128)
            for (; i <= n - 4; i += 4)
                TOp.Invoke(Vector128.LoadUnsafe(ref xs, (nuint)i), Vector128.LoadUnsafe(ref ys, (nuint)i)).StoreUnsafe(ref ds, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref ds, i) = TOp.Invoke(Unsafe.Add(ref xs, i), Unsafe.Add(ref ys, i));
    }
}
