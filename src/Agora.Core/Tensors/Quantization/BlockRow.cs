namespace Agora.Tensors.Quantization;

/// <summary>Checks that a row of bytes and a span of floats describe the same whole number of blocks.</summary>
internal static class BlockRow
{
    public static int Count(int rowBytes, int elements, int blockBytes, int blockElements, string typeName)
    {
        if (elements % blockElements != 0)
            throw new ArgumentException($"{typeName}: {elements} elements are not a whole number of {blockElements}-element blocks");
        int blocks = elements / blockElements;
        if ((long)blocks * blockBytes != rowBytes)
            throw new ArgumentException($"{typeName}: {elements} elements take {(long)blocks * blockBytes} bytes, the row has {rowBytes}");
        return blocks;
    }

    /// <summary>llama.cpp's nearest_int: round half to even (its float trick rounds exactly so for |x| &lt; 2²²).</summary>
    public static int NearestInt(float x) => (int)MathF.Round(x);
}
