using System.Runtime.Intrinsics;

namespace Agora.Tensors.Kernels;

/// <summary>
/// The vector width a kernel runs at. Public entry points use <see cref="Simd.Best"/>; the internal overloads that
/// take a width let tests run every path the machine supports against the scalar one.
/// </summary>
internal enum SimdWidth { Scalar = 0, V128 = 128, V256 = 256, V512 = 512 }

internal static class Simd
{
    public static readonly SimdWidth Best =
        Vector512.IsHardwareAccelerated ? SimdWidth.V512 :
        Vector256.IsHardwareAccelerated ? SimdWidth.V256 :
        Vector128.IsHardwareAccelerated ? SimdWidth.V128 : SimdWidth.Scalar;

    /// <summary>Every width this machine can run, scalar first.</summary>
    public static SimdWidth[] Supported { get; } =
        [SimdWidth.Scalar, .. new[] { SimdWidth.V128, SimdWidth.V256, SimdWidth.V512 }.Where(w => w <= Best)];
}
