namespace Agora.Formats.Safetensors;

/// <summary>
/// The tensors of a Hugging Face checkpoint as one set, whether it is one <c>.safetensors</c> file or shards
/// listed by <c>model.safetensors.index.json</c>. Every tensor must lie in exactly the shard the index names.
/// </summary>
public sealed unsafe class SafetensorsSet : IDisposable
{
    readonly List<SafetensorsFile> _files;
    readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensorInfo Info)> _byName;

    /// <summary>The file, index or folder this set was opened from.</summary>
    public string Path { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;
    /// <summary>All tensors, shard by shard in data order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    SafetensorsSet(string path, List<SafetensorsFile> files, Dictionary<string, (SafetensorsFile, SafetensorsTensorInfo)> byName)
    {
        Path = path;
        _files = files;
        _byName = byName;
        Tensors = [.. files.SelectMany(f => f.Tensors)];
    }

    /// <summary>
    /// Opens a <c>.safetensors</c> file, an index file, or a folder holding either
    /// <c>model.safetensors.index.json</c> or <c>model.safetensors</c>.
    /// </summary>
    public static SafetensorsSet Open(string path)
    {
        if (Directory.Exists(path))
        {
            var index = System.IO.Path.Combine(path, SafetensorsIndex.FileName);
            if (File.Exists(index)) return OpenIndex(path, index);
            var single = System.IO.Path.Combine(path, "model.safetensors");
            if (File.Exists(single)) return OpenSingle(path, single);
            throw new AgoraException($"{path}: holds neither {SafetensorsIndex.FileName} nor model.safetensors");
        }
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return OpenIndex(path, path);
        return OpenSingle(path, path);
    }

    public SafetensorsTensorInfo? Find(string name) => _byName.TryGetValue(name, out var hit) ? hit.Info : null;

    /// <summary>The shard holding a tensor of this set.</summary>
    public SafetensorsFile FileOf(SafetensorsTensorInfo tensor) =>
        _byName.TryGetValue(tensor.Name, out var hit) && hit.Info == tensor
            ? hit.File
            : throw new ArgumentException($"tensor '{tensor.Name}' is not from {Path}", nameof(tensor));

    public ReadOnlySpan<byte> TensorData(SafetensorsTensorInfo tensor) => FileOf(tensor).TensorData(tensor);

    public byte* TensorPointer(SafetensorsTensorInfo tensor) => FileOf(tensor).TensorPointer(tensor);

    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
    }

    static SafetensorsSet OpenSingle(string path, string file)
    {
        var opened = SafetensorsFile.Open(file);
        return new SafetensorsSet(path, [opened], opened.Tensors.ToDictionary(t => t.Name, t => (opened, t), StringComparer.Ordinal));
    }

    static SafetensorsSet OpenIndex(string path, string indexPath)
    {
        var weightMap = SafetensorsIndex.Read(indexPath);
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        var files = new List<SafetensorsFile>();
        var byName = new Dictionary<string, (SafetensorsFile, SafetensorsTensorInfo)>(StringComparer.Ordinal);
        try
        {
            // Shards in the order the index first names them, each opened once.
            foreach (var shard in weightMap.Values.Distinct(StringComparer.Ordinal))
            {
                var shardPath = System.IO.Path.Combine(folder, shard);
                if (!File.Exists(shardPath))
                    throw new AgoraFormatException(indexPath, $"weight_map names shard '{shard}', which does not exist");
                var file = SafetensorsFile.Open(shardPath);
                files.Add(file);
                foreach (var tensor in file.Tensors)
                {
                    if (!weightMap.TryGetValue(tensor.Name, out var listed))
                        throw new AgoraFormatException(shardPath, $"tensor '{tensor.Name}' is not listed in {indexPath}");
                    if (listed != shard)
                        throw new AgoraFormatException(shardPath, $"tensor '{tensor.Name}' is here but {indexPath} places it in '{listed}'");
                    byName.Add(tensor.Name, (file, tensor));
                }
            }
            foreach (var (name, shard) in weightMap)
            {
                if (!byName.ContainsKey(name))
                    throw new AgoraFormatException(indexPath, $"tensor '{name}' is mapped to '{shard}', which does not hold it");
            }
            return new SafetensorsSet(path, files, byName);
        }
        catch
        {
            foreach (var file in files) file.Dispose();
            throw;
        }
    }
}
