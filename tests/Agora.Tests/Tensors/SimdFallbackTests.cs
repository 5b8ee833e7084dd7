using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Agora.Tests.Tensors;

/// <summary>
/// CI runs the kernel tests again with AVX-512 and with AVX2 switched off, telling this test which through
/// AGORA_EXPECT_SIMD, so a runtime that ignores the switch (as .NET 10 ignores DOTNET_EnableAVX512F alone) fails
/// loudly instead of silently testing the fast paths twice.
/// </summary>
public sealed class SimdFallbackTests
{
    [Fact]
    public void TheRequestedInstructionSetsAreOff()
    {
        var expected = Environment.GetEnvironmentVariable("AGORA_EXPECT_SIMD");
        Assert.SkipWhen(string.IsNullOrEmpty(expected), "AGORA_EXPECT_SIMD is not set (only CI's fallback runs set it)");
        switch (expected)
        {
            case "no-avx512":
                Assert.False(Avx512F.IsSupported, "AVX-512 is still on");
                Assert.False(Vector512.IsHardwareAccelerated, "Vector512 is still accelerated");
                break;
            case "no-avx2":
                Assert.False(Avx2.IsSupported, "AVX2 is still on");
                Assert.False(Vector256.IsHardwareAccelerated, "Vector256 is still accelerated");
                break;
            default:
                Assert.Fail($"unknown AGORA_EXPECT_SIMD value '{expected}'");
                break;
        }
    }
}
