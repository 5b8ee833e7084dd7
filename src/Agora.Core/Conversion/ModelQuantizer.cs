using System.Diagnostics;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Conversion;

/// <summary>One tensor of a quantized file: its type before and after, and its bytes before and after.</summary>
public sealed record QuantizedTensor(string Name, long[] Shape, GgmlType From, GgmlType To, long FromBytes, long ToBytes);

/// <summary>What <see cref="ModelQuantizer.Quantize"/> wrote.</summary>
public sealed record QuantizationResult(string Output, QuantizationScheme Scheme, IReadOnlyList<QuantizedTensor> Tensors, TimeSpan Elapsed)
{
    public long FromBytes => Tensors.Sum(t => t.FromBytes);
    public long ToBytes => Tensors.Sum(t => t.ToBytes);
}

/// <summary>
/// Writes a quantized (or plain F32/F16/BF16) GGUF copy of a model, as llama.cpp's <c>llama-quantize</c> does without
/// an importance matrix: all metadata copied (tokenizer and chat template included), <c>general.file_type</c> and
/// <c>general.quantization_version</c> set, each tensor's type chosen by <see cref="TensorTypeRules"/>, and its rows
/// decoded to float32 and encoded with ggml's reference quantizers (<see cref="RowEncoder"/>). The input is a
/// GGUF file, whose tensors keep their names and row order (quantization works row by row, so llama.cpp's permuted
/// rows need no undoing), or a Hugging Face folder, laid out first as llama.cpp's converter lays it out
/// (<see cref="HfToGguf"/>) and encoded straight from its weights. Each tensor is converted in bounded chunks while
/// the file is written, so memory stays small; the file appears only when complete.
/// </summary>
public static class ModelQuantizer
{
    /// <param name="threads">Threads converting rows; 0 for one per core.</param>
    /// <param name="onTensor">Called as each tensor has been written.</param>
    public static QuantizationResult Quantize(string input, string output, QuantizationScheme scheme, int threads = 0,
        Action<QuantizedTensor>? onTensor = null)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        CheckOutput(output);
        var clock = Stopwatch.StartNew();
        using var checkpoint = Checkpoint.Open(input);
        var config = checkpoint.Config; // refuses an architecture Agora cannot run before any work is done
        var layout = checkpoint.Gguf is { } gguf ? GgufLayout.Of(gguf) : HfToGguf.Layout(checkpoint, scheme.FileType);

        var tensors = layout.Tensors;
        var types = TensorTypeRules.Choose(scheme, config, [.. tensors.Select(t => (t.Name, t.Type, t.Shape))]);
        var writer = new GgufWriter(layout.Version);
        foreach (var (key, value) in layout.Metadata)
            if (!key.StartsWith("split.", StringComparison.Ordinal)) writer.Add(key, value);
        writer.Set("general.quantization_version", GgufValue.UInt32(GgufWriter.QuantizationVersion));
        writer.Set("general.file_type", GgufValue.UInt32(scheme.FileType));

        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        var written = new List<QuantizedTensor>(tensors.Count);
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            var to = types[i];
            var report = new QuantizedTensor(t.Name, t.Shape, t.SourceType, to, t.SourceBytes, GgmlTypeInfo.ByteSize(to, t.ElementCount));
            if (!Quants.CanDequantize(t.SourceType) && (to != t.SourceType || t.RowOrder != null))
                throw new AgoraException($"{input}: tensor '{t.Name}' is {t.SourceType}, which Agora cannot re-quantize");
            writer.AddTensor(t.Name, to, t.Shape, stream =>
            {
                Write(input, t, to, stream, options);
                written.Add(report);
                onTensor?.Invoke(report);
            });
        }
        writer.Write(output);
        return new QuantizationResult(output, scheme, written, clock.Elapsed);
    }

    /// <summary>Refuses an output path that cannot be written before any work is done.</summary>
    static void CheckOutput(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var full = Path.GetFullPath(output);
        if (Directory.Exists(full)) throw new AgoraException($"{output}: is a folder; give the path of the GGUF file to write");
        var folder = Path.GetDirectoryName(full);
        if (folder != null && !Directory.Exists(folder)) throw new AgoraException($"{output}: the folder {folder} does not exist");
    }

    /// <summary>Copies a tensor that keeps its type and order; otherwise encodes its rows as <paramref name="to"/>.</summary>
    static unsafe void Write(string input, GgufLayoutTensor t, GgmlType to, Stream stream, ParallelOptions options)
    {
        var data = t.Data();
        if (to == t.SourceType && t.RowOrder == null)
        {
            new UnmanagedMemoryStream((byte*)data, t.SourceBytes).CopyTo(stream, 1 << 20);
            return;
        }
        int rowLength = checked((int)t.Shape[0]);
        long rows = rowLength == 0 ? 0 : t.ElementCount / rowLength;
        var source = RowEncoder.Reordered(RowEncoder.Stored(data, t.SourceType), t.RowOrder, t.ElementCount, rowLength);
        RowEncoder.Write(stream, to, rows, rowLength, source, options, input, t.Name);
    }
}
