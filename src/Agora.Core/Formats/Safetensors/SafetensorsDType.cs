using Agora.Tensors;

namespace Agora.Formats.Safetensors;

/// <summary>
/// Element types of safetensors files, spelled as in the header. Declared in the reference library's order
/// (increasing alignment): its writer lays tensors out by descending position in this list, then by name.
/// </summary>
public enum SafetensorsDType
{
    BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ,
    I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64,
}

public static class SafetensorsDTypeInfo
{
    /// <summary>Bits per element (4 and 6 for the packed micro-scaling floats).</summary>
    public static int BitSize(SafetensorsDType type) => type switch
    {
        SafetensorsDType.F4 => 4,
        SafetensorsDType.F6_E2M3 or SafetensorsDType.F6_E3M2 => 6,
        SafetensorsDType.BOOL or SafetensorsDType.U8 or SafetensorsDType.I8 or SafetensorsDType.F8_E5M2
            or SafetensorsDType.F8_E4M3 or SafetensorsDType.F8_E8M0 or SafetensorsDType.F8_E4M3FNUZ
            or SafetensorsDType.F8_E5M2FNUZ => 8,
        SafetensorsDType.I16 or SafetensorsDType.U16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 16,
        SafetensorsDType.I32 or SafetensorsDType.U32 or SafetensorsDType.F32 => 32,
        SafetensorsDType.C64 or SafetensorsDType.F64 or SafetensorsDType.I64 or SafetensorsDType.U64 => 64,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>The header spelling of a dtype name, or false for a name the format does not define.</summary>
    public static bool TryParse(string name, out SafetensorsDType type)
    {
        // Enum.TryParse would also accept numbers and other casings; the header spells names exactly.
        foreach (var candidate in Enum.GetValues<SafetensorsDType>())
        {
            if (candidate.ToString() == name) { type = candidate; return true; }
        }
        type = default;
        return false;
    }

    /// <summary>
    /// Bytes taken by <paramref name="elements"/> elements, or -1 when that is not a whole number of bytes
    /// or overflows (callers name the tensor in the error).
    /// </summary>
    public static long ByteSize(SafetensorsDType type, long elements)
    {
        long bits = BitSize(type);
        if (elements < 0 || elements > long.MaxValue / bits) return -1;
        long total = elements * bits;
        return total % 8 == 0 ? total / 8 : -1;
    }

    /// <summary>The ggml element type holding the same bits, or null where ggml has none (unsigned, bool, fp8…).</summary>
    public static GgmlType? ToGgml(SafetensorsDType type) => type switch
    {
        SafetensorsDType.F32 => GgmlType.F32,
        SafetensorsDType.F16 => GgmlType.F16,
        SafetensorsDType.BF16 => GgmlType.BF16,
        SafetensorsDType.F64 => GgmlType.F64,
        SafetensorsDType.I8 => GgmlType.I8,
        SafetensorsDType.I16 => GgmlType.I16,
        SafetensorsDType.I32 => GgmlType.I32,
        SafetensorsDType.I64 => GgmlType.I64,
        _ => null,
    };
}
