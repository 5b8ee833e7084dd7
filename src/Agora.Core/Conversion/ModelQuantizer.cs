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
/// Writes a quantized copy of a GGUF model, as llama.cpp's <c>llama-quantize</c> does without an importance matrix:
/// all metadata copied (tokenizer and chat template included), <c>general.file_type</c> and
/// <c>general.quantization_version</c> set, each tensor's type chosen by <see cref="TensorTypeRules"/>, and its rows
/// decoded to float32 and encoded with ggml's reference quantizers (<see cref="Quants.Quantize"/>). Tensors keep
/// their GGUF names and row order: quantization works row by row, so llama.cpp's permuted rows need no undoing.
/// Each tensor is converted in bounded chunks while the file is written, so memory stays small; the file appears
/// only when complete.
/// </summary>
public static unsafe class ModelQuantizer
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
        var gguf = checkpoint.Gguf ?? throw new AgoraException(
            $"{input}: quantize reads GGUF files; convert the Hugging Face folder to GGUF first (llama.cpp's convert_hf_to_gguf.py), then quantize that file");
        var config = checkpoint.Config; // refuses an architecture Agora cannot run before any work is done

        var infos = gguf.Tensors;
        var types = TensorTypeRules.Choose(scheme, config, [.. infos.Select(t => (t.Name, t.Type, t.Shape))]);
        var writer = new GgufWriter(gguf.Version);
        foreach (var (key, value) in gguf.Metadata)
            if (!key.StartsWith("split.", StringComparison.Ordinal)) writer.Add(key, value);
        writer.Set("general.quantization_version", GgufValue.UInt32(GgufWriter.QuantizationVersion));
        writer.Set("general.file_type", GgufValue.UInt32(scheme.FileType));

        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        var written = new List<QuantizedTensor>(infos.Count);
        for (int i = 0; i < infos.Count; i++)
        {
            var info = infos[i];
            var to = types[i];
            var report = new QuantizedTensor(info.Name, info.Shape, info.Type, to, info.ByteSize, GgmlTypeInfo.ByteSize(to, info.ElementCount));
            GgufWriter.TensorDataWriter convert;
            if (to == info.Type)
            {
                long size = info.ByteSize;
                nint source = (nint)gguf.TensorPointer(info);
                convert = stream => new UnmanagedMemoryStream((byte*)source, size).CopyTo(stream, 1 << 20);
            }
            else
            {
                if (!Quants.CanDequantize(info.Type))
                    throw new AgoraException($"{input}: tensor '{info.Name}' is {info.Type}, which Agora cannot re-quantize");
                nint source = (nint)gguf.TensorPointer(info);
                convert = stream => Convert(input, info, (byte*)source, to, stream, options);
            }
            writer.AddTensor(info.Name, to, info.Shape, stream =>
            {
                convert(stream);
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

    /// <summary>Decodes each row to float32 and encodes it as <paramref name="to"/>.</summary>
    static void Convert(string path, GgufTensorInfo info, byte* source, GgmlType to, Stream stream, ParallelOptions options)
    {
        int rowLength = checked((int)info.Shape[0]);
        long rows = rowLength == 0 ? 0 : info.ElementCount / rowLength;
        long fromRow = GgmlTypeInfo.ByteSize(info.Type, rowLength);
        nint src = (nint)source;
        RowEncoder.Write(stream, to, rows, rowLength, (row, values) =>
        {
            Quants.Dequantize(info.Type, new ReadOnlySpan<byte>((byte*)src + row * fromRow, (int)fromRow), values);
            foreach (float v in values)
                if (!float.IsFinite(v))
                    throw new AgoraFormatException(path, $"tensor '{info.Name}' row {row} holds {v}; it cannot be quantized");
        }, options);
    }
}
