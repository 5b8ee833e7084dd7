using Agora.Formats.Gguf;
using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Tests.Models;

/// <summary>
/// Altered copies of a fixture GGUF written to a temporary file (deleted on dispose): requantized, with tensors
/// dropped or reshaped, or with other metadata.
/// </summary>
public sealed class GgufVariant : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"agora-model-{Guid.NewGuid():N}.gguf");

    /// <param name="tensor">Adds a source tensor to the writer as it likes (or not at all); null copies each as is.</param>
    /// <param name="metadata">Edits the copied metadata.</param>
    public GgufVariant(string source, Action<GgufWriter, GgufFile, GgufTensorInfo>? tensor = null, Action<GgufWriter>? metadata = null)
    {
        using var gguf = GgufFile.Open(source);
        var writer = new GgufWriter(gguf.Version);
        foreach (var (key, value) in gguf.Metadata) writer.Add(key, value);
        metadata?.Invoke(writer);
        foreach (var t in gguf.Tensors)
        {
            if (tensor != null) tensor(writer, gguf, t);
            else writer.AddTensor(gguf, t);
        }
        writer.Write(Path);
    }

    /// <summary>
    /// A copy whose matrices are re-encoded row by row as <paramref name="type"/> (vectors stay as they are); with
    /// <paramref name="decodeAgain"/> they are then decoded back to F32: the float twin of that quantized model.
    /// </summary>
    public static GgufVariant Quantized(string source, GgmlType type, bool decodeAgain = false) => new(source, (writer, gguf, t) =>
    {
        if (t.Shape.Length != 2)
        {
            writer.AddTensor(gguf, t);
            return;
        }
        int columns = (int)t.Shape[0], rows = (int)t.Shape[1];
        long sourceRowBytes = GgmlTypeInfo.ByteSize(t.Type, columns), rowBytes = GgmlTypeInfo.ByteSize(type, columns);
        var row = new float[columns];
        var encoded = new byte[rowBytes];
        var data = new byte[(decodeAgain ? columns * sizeof(float) : rowBytes) * rows];
        for (int r = 0; r < rows; r++)
        {
            Quants.Dequantize(t.Type, gguf.TensorData(t).Slice((int)(r * sourceRowBytes), (int)sourceRowBytes), row);
            Quants.Quantize(type, row, encoded);
            if (!decodeAgain)
            {
                encoded.CopyTo(data.AsSpan((int)(r * rowBytes)));
                continue;
            }
            Quants.Dequantize(type, encoded, row);
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()).CopyTo(data.AsSpan(r * columns * sizeof(float)));
        }
        writer.AddTensor(t.Name, decodeAgain ? GgmlType.F32 : type, t.Shape, data);
    });

    public void Dispose() => File.Delete(Path);
}
