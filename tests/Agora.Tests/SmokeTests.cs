using Agora.Tensors;

namespace Agora.Tests;

public class GgmlTypeInfoTests
{
    [Theory]
    [InlineData(GgmlType.F32, 1, 4)]
    [InlineData(GgmlType.Q4_0, 32, 18)]
    [InlineData(GgmlType.Q4_K, 256, 144)]
    [InlineData(GgmlType.Q6_K, 256, 210)]
    public void Geometry(GgmlType type, int block, int size)
    {
        Assert.Equal(block, GgmlTypeInfo.BlockSize(type));
        Assert.Equal(size, GgmlTypeInfo.TypeSize(type));
    }

    [Fact]
    public void RetiredIdsAreUnknown()
    {
        Assert.False(GgmlTypeInfo.IsKnown((GgmlType)4));
        Assert.Equal(-1, GgmlTypeInfo.ByteSize(GgmlType.Q8_0, 33));
    }
}
