using Agora.Tensors;

namespace Agora.Conversion;

/// <summary>
/// One of llama.cpp's file-level types: the type most weights get, and the <c>general.file_type</c> value
/// (llama.cpp's LLAMA_FTYPE) a file written with it declares. The quantized ones are mixtures (some tensors get
/// other types, see <see cref="TensorTypeRules"/>); F32, F16 and BF16 are plain conversions of every matrix.
/// </summary>
public sealed record QuantizationScheme(string Name, uint FileType, GgmlType DefaultType)
{
    public static readonly QuantizationScheme Q4_0 = new("Q4_0", 2, GgmlType.Q4_0);
    public static readonly QuantizationScheme Q4_1 = new("Q4_1", 3, GgmlType.Q4_1);
    public static readonly QuantizationScheme Q8_0 = new("Q8_0", 7, GgmlType.Q8_0);
    public static readonly QuantizationScheme Q5_0 = new("Q5_0", 8, GgmlType.Q5_0);
    public static readonly QuantizationScheme Q5_1 = new("Q5_1", 9, GgmlType.Q5_1);
    public static readonly QuantizationScheme Q4_K_M = new("Q4_K_M", 15, GgmlType.Q4_K);
    public static readonly QuantizationScheme Q5_K_M = new("Q5_K_M", 17, GgmlType.Q5_K);
    public static readonly QuantizationScheme Q6_K = new("Q6_K", 18, GgmlType.Q6_K);
    public static readonly QuantizationScheme F32 = new("F32", 0, GgmlType.F32);
    public static readonly QuantizationScheme F16 = new("F16", 1, GgmlType.F16);
    public static readonly QuantizationScheme BF16 = new("BF16", 32, GgmlType.BF16);

    /// <summary>The quantized mixtures.</summary>
    public static IReadOnlyList<QuantizationScheme> All { get; } = [Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_M, Q5_K_M, Q6_K];

    /// <summary>The plain float conversions.</summary>
    public static IReadOnlyList<QuantizationScheme> Plain { get; } = [F16, BF16, F32];

    /// <summary>Every scheme <see cref="Parse"/> accepts: the mixtures, then the plain conversions.</summary>
    public static IReadOnlyList<QuantizationScheme> Choices { get; } = [.. All, .. Plain];

    /// <summary>The scheme named <paramref name="name"/> (case-insensitive), or an <see cref="AgoraException"/> listing the choices.</summary>
    public static QuantizationScheme Parse(string name) =>
        Choices.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new AgoraException($"unknown quantization type '{name}' (choose one of {string.Join(", ", Choices.Select(s => s.Name))})");

    /// <summary>False for the plain float conversions, which llama.cpp applies to every matrix alike.</summary>
    public bool IsQuantized => GgmlTypeInfo.IsQuantized(DefaultType);

    /// <summary>True for the K-quant mixtures whose Q6_K attention-value and FFN-down rule applies ("use more bits").</summary>
    internal bool UsesMoreBitsRule => this == Q4_K_M || this == Q5_K_M;

    public override string ToString() => Name;
}
