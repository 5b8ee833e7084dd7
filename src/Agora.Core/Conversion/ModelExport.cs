using System.Text.RegularExpressions;
using Agora.Adapters;
using Agora.Formats;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Formats.Safetensors;
using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Conversion;

/// <summary>
/// Writes a model with some weights replaced, in the format of its source checkpoint. A GGUF source gives a GGUF
/// file with the same metadata, tensor names, order and types: replaced tensors are put back into llama.cpp's row
/// order and encoded in their own type (quantized ones with ggml's reference quantizers). A Hugging Face source
/// gives a folder: safetensors holding each tensor in its source dtype (sharded as transformers shards, past
/// <see cref="MaxShardBytes"/>), and the config, tokenizer and chat template files copied byte for byte. Tensors
/// that are not replaced are copied byte for byte; replaced ones are encoded while the file is written. Every file
/// is written through <see cref="AtomicFile"/>.
/// </summary>
public static partial class ModelExport
{
    /// <summary>transformers' default max_shard_size ("5GB"): a bigger Hugging Face output is split into shards.</summary>
    public const long MaxShardBytes = 5_000_000_000;

    const string SingleWeightsFile = "model.safetensors";

    /// <summary>The files of a Hugging Face folder besides the weights that loading it needs (config, tokenizer, chat template).</summary>
    static readonly string[] SideFiles =
    [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "tokenizer.model", "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json",
    ];

    /// <param name="replacedWeights">
    /// Hugging Face tensor names (e.g. "model.layers.0.self_attn.q_proj.weight") → float32 values in Hugging Face row
    /// order (as <see cref="Checkpoint"/> presents them). Every other tensor is copied unchanged.
    /// </param>
    /// <param name="output">A folder for a Hugging Face source, a .gguf file path for a GGUF source.</param>
    public static void Write(Checkpoint source, IReadOnlyDictionary<string, float[]> replacedWeights, string output) =>
        Write(source, replacedWeights, output, MaxShardBytes);

    /// <param name="maxShardBytes">The largest Hugging Face shard (tests shard small models with it).</param>
    internal static void Write(Checkpoint source, IReadOnlyDictionary<string, float[]> replacedWeights, string output, long maxShardBytes)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(replacedWeights);
        CheckOutput(source, output);
        // Every value is checked before anything is written, so a bad one leaves no file behind.
        foreach (var (name, values) in replacedWeights)
        {
            var tensor = Target(source, name);
            if (values == null || values.LongLength != tensor.ElementCount)
                throw new AgoraException($"the replacement for '{name}' holds {values?.Length ?? 0} values, but {source.Path} has it as " +
                    $"[{string.Join(", ", tensor.Shape)}] ({tensor.ElementCount} values)");
            CheckEncodable(source, tensor, values);
        }
        Export(source, replacedWeights.Keys.ToHashSet(StringComparer.Ordinal), tensor => replacedWeights[tensor.Name], output, maxShardBytes);
    }

    /// <summary>
    /// Writes <paramref name="source"/> with each low-rank delta merged into the weight it names (W += Scale·B·A,
    /// <see cref="LowRankMerge"/>), in the source's format as <see cref="Write(Checkpoint, IReadOnlyDictionary{string, float[]}, string)"/>
    /// does. Each weight is decoded, merged and encoded in turn, so only one is held in float32 at a time.
    /// </summary>
    /// <returns>The files written.</returns>
    public static IReadOnlyList<string> WriteMerged(Checkpoint source, IReadOnlyDictionary<string, LowRankDelta> deltas, string output)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(deltas);
        CheckOutput(source, output);
        foreach (var (name, delta) in deltas)
        {
            var tensor = Target(source, name);
            if (tensor.Shape.Length != 2 || tensor.Shape[0] != delta.Out || tensor.Shape[1] != delta.In)
                throw new AgoraException($"'{name}': the update is [{delta.Out}, {delta.In}], but {source.Path} has the weight as [{string.Join(", ", tensor.Shape)}]");
            if (tensor.ElementCount > Array.MaxLength || tensor.ByteSize > int.MaxValue)
                throw new AgoraException($"'{name}' of {source.Path} holds {tensor.ElementCount} values, too many to merge in one piece");
        }
        return Export(source, deltas.Keys.ToHashSet(StringComparer.Ordinal), tensor =>
        {
            var values = new float[tensor.ElementCount];
            // The whole tensor is one run of rows, each a whole number of blocks: one call decodes it.
            Quants.Dequantize(tensor.Type, tensor.Data, values);
            deltas[tensor.Name].MergeInto(values);
            CheckEncodable(source, tensor, values);
            return values;
        }, output, MaxShardBytes);
    }

    /// <summary>
    /// Refuses, before any work is done, an output that writing would refuse: the source itself, the other format
    /// (the output format follows the source's), or a path in a folder that does not exist.
    /// </summary>
    public static void CheckOutput(Checkpoint source, string output)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(output);
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(output));
        if (full == Path.TrimEndingDirectorySeparator(Path.GetFullPath(source.Path)))
            throw new AgoraException($"{output}: is the model itself; give another output path (the source is never overwritten)");
        bool ggufName = full.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase);
        if (source.Format == CheckpointFormat.Gguf && (Directory.Exists(full) || !ggufName))
            throw new AgoraException($"{output}: the output format follows the model's format, and {source.Path} is a GGUF file: give the path of a .gguf file to write");
        if (source.Format == CheckpointFormat.HuggingFace && (File.Exists(full) || ggufName))
            throw new AgoraException($"{output}: the output format follows the model's format, and {source.Path} is a Hugging Face folder: give the path of a folder to write");
        var parent = Path.GetDirectoryName(full);
        if (parent != null && !Directory.Exists(parent)) throw new AgoraException($"{output}: the folder {parent} does not exist");
    }

    static CheckpointTensor Target(Checkpoint source, string name)
    {
        var tensor = source.Find(name) ?? throw new AgoraException(
            $"'{name}' is not a tensor of {source.Path}{(name.StartsWith("lm_head.", StringComparison.Ordinal) ? " (its output head is tied to the token embeddings)" : "")}");
        if (!Quants.CanDequantize(tensor.Type))
            throw new AgoraException($"{source.Path}: tensor '{name}' is {tensor.Type}, which Agora cannot write");
        return tensor;
    }

    /// <summary>Refuses values the tensor's type would turn into something else: NaN, infinities, F16 overflow.</summary>
    static void CheckEncodable(Checkpoint source, CheckpointTensor tensor, ReadOnlySpan<float> values)
    {
        // Values from 65520 up round to F16 infinity.
        float limit = tensor.Type == GgmlType.F16 ? 65520f : float.PositiveInfinity;
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
                throw new AgoraException($"the new value of '{tensor.Name}' at index {i} is {values[i]}; a model weight must be finite");
            if (Math.Abs(values[i]) >= limit)
                throw new AgoraException($"the new value of '{tensor.Name}' at index {i} is {values[i]}, beyond the range of F16, its type in {source.Path}");
        }
    }

    static IReadOnlyList<string> Export(Checkpoint source, IReadOnlySet<string> replaced, Func<CheckpointTensor, float[]> values, string output, long maxShardBytes)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        return source.Format == CheckpointFormat.Gguf
            ? WriteGguf(source, replaced, values, output, options)
            : WriteHf(source, replaced, values, output, maxShardBytes, options);
    }

    static IReadOnlyList<string> WriteGguf(Checkpoint source, IReadOnlySet<string> replaced, Func<CheckpointTensor, float[]> values, string output, ParallelOptions options)
    {
        var gguf = source.Gguf!;
        var writer = new GgufWriter(gguf.Version);
        foreach (var (key, value) in gguf.Metadata) writer.Add(key, value);
        foreach (var tensor in source.Tensors)
        {
            var info = gguf.FindTensor(tensor.SourceName)!;
            if (replaced.Contains(tensor.Name))
                writer.AddTensor(info.Name, info.Type, info.Shape, stream => Encode(stream, tensor, info.Type, values(tensor), options));
            else
                writer.AddTensor(gguf, info);
        }
        writer.Write(output);
        return [output];
    }

    static IReadOnlyList<string> WriteHf(Checkpoint source, IReadOnlySet<string> replaced, Func<CheckpointTensor, float[]> values, string output,
        long maxShardBytes, ParallelOptions options)
    {
        // A second view of the files the checkpoint maps, for their dtypes and raw bytes.
        using var set = SafetensorsSet.Open(source.Path);
        var byFileName = source.Tensors.ToDictionary(t => t.SourceName, StringComparer.Ordinal);
        var first = set.Files[0].Metadata;
        IEnumerable<KeyValuePair<string, string>> metadata = first.Count > 0 ? first : [new("format", "pt")];
        var shards = Shards(set.Tensors, maxShardBytes);
        try
        {
            Directory.CreateDirectory(output);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgoraException($"{output}: cannot create the folder: {e.Message}", e);
        }

        var written = new List<string>();
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            var fileName = shards.Count == 1 ? SingleWeightsFile : $"model-{i + 1:00000}-of-{shards.Count:00000}.safetensors";
            var writer = new SafetensorsWriter(metadata);
            foreach (var info in shards[i])
            {
                var tensor = byFileName[info.Name];
                if (replaced.Contains(tensor.Name))
                    writer.Add(info.Name, info.DType, info.Shape, info.ByteSize, stream => Encode(stream, tensor, tensor.Type, values(tensor), options));
                else
                    writer.Add(set.FileOf(info), info);
                weightMap.Add(info.Name, fileName);
            }
            var path = Path.Combine(output, fileName);
            writer.Write(path);
            written.Add(path);
        }
        if (shards.Count > 1)
        {
            var index = Path.Combine(output, SafetensorsIndex.FileName);
            SafetensorsIndex.Write(index, weightMap, set.Tensors.Sum(t => t.ByteSize));
            written.Add(index);
        }
        RemoveStaleWeights(output, written);

        foreach (var name in SideFiles)
        {
            var from = Path.Combine(source.Path, name);
            if (!File.Exists(from)) continue;
            var to = Path.Combine(output, name);
            AtomicFile.Write(to, stream =>
            {
                using var file = File.OpenRead(from);
                file.CopyTo(stream);
            });
            written.Add(to);
        }
        return written;
    }

    /// <summary>
    /// transformers' sharding: tensors in order, a new shard whenever the next tensor would take the current one past
    /// the limit (a tensor bigger than the limit gets a shard of its own). One shard means no sharding.
    /// </summary>
    static List<List<SafetensorsTensorInfo>> Shards(IReadOnlyList<SafetensorsTensorInfo> tensors, long maxShardBytes)
    {
        var shards = new List<List<SafetensorsTensorInfo>> { new() };
        long size = 0;
        foreach (var t in tensors)
        {
            if (shards[^1].Count > 0 && size + t.ByteSize > maxShardBytes)
            {
                shards.Add([]);
                size = 0;
            }
            shards[^1].Add(t);
            size += t.ByteSize;
        }
        return shards;
    }

    /// <summary>
    /// Deletes the weight files of an earlier export into the same folder that this one did not rewrite (as transformers
    /// does): a stale index or shard would otherwise be loaded instead of, or along with, the new weights.
    /// </summary>
    static void RemoveStaleWeights(string folder, List<string> written)
    {
        var keep = written.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFiles(folder))
        {
            var name = Path.GetFileName(path);
            if (keep.Contains(name) || !(name == SingleWeightsFile || name == SafetensorsIndex.FileName || ShardName().IsMatch(name))) continue;
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new AgoraException($"{path}: cannot remove this weights file of an earlier export, which would be loaded with the new one: {e.Message}", e);
            }
        }
    }

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$")]
    private static partial Regex ShardName();

    /// <summary>
    /// Encodes a replaced tensor as <paramref name="type"/> in the file's row order: a re-ordered tensor's Hugging Face
    /// rows are scattered back to the file rows that <see cref="CheckpointTensor.FileRowOrder"/> says held them.
    /// </summary>
    static void Encode(Stream stream, CheckpointTensor tensor, GgmlType type, float[] values, ParallelOptions options)
    {
        int rowLength = tensor.Shape.Length == 0 ? 1 : checked((int)tensor.Shape[^1]);
        long rows = rowLength == 0 ? 0 : values.Length / rowLength;
        var order = tensor.FileRowOrder();
        if (order == null)
        {
            RowEncoder.Write(stream, type, rows, rowLength, (row, row32) => values.AsSpan((int)(row * rowLength), rowLength).CopyTo(row32), options);
            return;
        }
        var hfRowAt = new int[order.Length];
        for (int hf = 0; hf < order.Length; hf++) hfRowAt[order[hf]] = hf;
        // A re-ordered row is a whole encoded row of a matrix, or one element of a vector (a bias).
        int unit = values.Length / order.Length, perRow = rowLength / unit;
        RowEncoder.Write(stream, type, rows, rowLength, (row, row32) =>
        {
            int firstUnit = (int)row * perRow;
            for (int u = 0; u < perRow; u++)
                values.AsSpan(hfRowAt[firstUnit + u] * unit, unit).CopyTo(row32.Slice(u * unit, unit));
        }, options);
    }
}
