using System.Buffers.Binary;
using System.Text;
using Agora.Formats.Safetensors;

namespace Agora.Tests.Formats;

public sealed class SafetensorsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("agora-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> FixtureFiles()
    {
        var data = new TheoryData<string>();
        foreach (var model in new[] { "llama-a", "qwen2-a", "bloom-a" })
        {
            data.Add($"{model}/hf/model.safetensors");
            data.Add($"{model}/lora/adapter_model.safetensors");
            data.Add($"{model}/reference_logits.safetensors");
            data.Add($"{model}/reference_lora.safetensors");
        }
        data.Add("kjv-llama/hf/model.safetensors");
        data.Add("kjv-llama/reference_logits.safetensors");
        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void FixtureReadsAndRewritesByteIdentical(string relative)
    {
        var path = Fixtures.Require(["models", .. relative.Split('/')]);
        using var file = SafetensorsFile.Open(path);
        Assert.NotEmpty(file.Tensors);
        foreach (var t in file.Tensors)
        {
            Assert.Equal(SafetensorsDType.F32, t.DType);
            Assert.Equal(t.ElementCount * 4, file.TensorData(t).Length);
        }
        Assert.Same(file.Tensors[0], file.Find(file.Tensors[0].Name));

        var writer = new SafetensorsWriter(file.Metadata.Count > 0 ? file.Metadata : null);
        // Added in reverse so the writer's own ordering has to restore the reference layout.
        foreach (var t in file.Tensors.Reverse()) writer.Add(file, t);
        var copy = Path.Combine(_dir, "copy.safetensors");
        writer.Write(copy);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(copy));
    }

    [Fact]
    public void FixtureValuesAreTheFloatsAtTheirOffsets()
    {
        var path = Fixtures.Require("models", "llama-a", "hf", "model.safetensors");
        using var file = SafetensorsFile.Open(path);
        var norm = file.Get("model.norm.weight");
        Assert.Equal([256L], norm.Shape);
        var raw = File.ReadAllBytes(path);
        var expected = raw.AsSpan((int)(file.DataOffset + norm.Begin), 1024);
        Assert.True(expected.SequenceEqual(file.TensorData(norm)));
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal([512L, 256L], file.Get("lm_head.weight").Shape);
    }

    [Fact]
    public void ShardedCheckpointReadsAsOneSet()
    {
        var source = Fixtures.Require("models", "qwen2-a", "hf", "model.safetensors");
        using var whole = SafetensorsFile.Open(source);
        var shards = new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
        var writers = shards.Select(_ => new SafetensorsWriter([new("format", "pt")])).ToArray();
        var weightMap = new Dictionary<string, string>();
        for (int i = 0; i < whole.Tensors.Count; i++)
        {
            var t = whole.Tensors[i];
            writers[i % 2].Add(whole, t);
            weightMap[t.Name] = shards[i % 2];
        }
        for (int i = 0; i < 2; i++) writers[i].Write(Path.Combine(_dir, shards[i]));
        SafetensorsIndex.Write(Path.Combine(_dir, SafetensorsIndex.FileName), weightMap, whole.Tensors.Sum(t => t.ByteSize));

        using var set = SafetensorsSet.Open(_dir);
        Assert.Equal(2, set.Files.Count);
        Assert.Equal(whole.Tensors.Count, set.Tensors.Count);
        foreach (var t in whole.Tensors)
        {
            var s = set.Find(t.Name)!;
            Assert.Equal(t.Shape, s.Shape);
            Assert.True(whole.TensorData(t).SequenceEqual(set.TensorData(s)), t.Name);
        }

        // An index that puts a tensor in the wrong shard is refused, naming the tensor.
        var first = whole.Tensors[0].Name;
        weightMap[first] = shards[1];
        SafetensorsIndex.Write(Path.Combine(_dir, SafetensorsIndex.FileName), weightMap, 0);
        var e = Assert.Throws<AgoraFormatException>(() => SafetensorsSet.Open(_dir));
        Assert.Contains(first, e.Message);
    }

    [Fact]
    public void WriterRoundTripsEveryDTypeAndMetadata()
    {
        var writer = new SafetensorsWriter([new("b", "two"), new("a", "one \"quoted\"\n")]);
        var types = Enum.GetValues<SafetensorsDType>().Where(d => SafetensorsDTypeInfo.BitSize(d) % 8 == 0).ToArray();
        foreach (var dtype in types)
        {
            int bytes = 6 * SafetensorsDTypeInfo.BitSize(dtype) / 8;
            var data = Enumerable.Range(0, bytes).Select(i => (byte)(i * 7 + (int)dtype)).ToArray();
            writer.Add($"t.{dtype}\t✓", dtype, [2, 3], data);
        }
        writer.Add("packed.F4", SafetensorsDType.F4, [4], new byte[2]);
        writer.Add("empty", SafetensorsDType.F32, [0, 5], Array.Empty<byte>());
        var path = Path.Combine(_dir, "all.safetensors");
        writer.Write(path);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["b", "a"], file.Metadata.Keys);
        Assert.Equal("one \"quoted\"\n", file.Metadata["a"]);
        Assert.Equal(types.Length + 2, file.Tensors.Count);
        foreach (var dtype in types)
        {
            var t = file.Get($"t.{dtype}\t✓");
            Assert.Equal(dtype, t.DType);
            Assert.Equal([2L, 3L], t.Shape);
            Assert.Equal((byte)(7 + (int)dtype), file.TensorData(t)[1]);
        }
        // Descending alignment first: the 8-byte types lead, the packed 4-bit one is last but for nothing.
        Assert.Equal(SafetensorsDType.U64, file.Tensors[0].DType);
        Assert.Equal(0, file.DataOffset % 8);
        Assert.Equal(0, file.Get("empty").ByteSize);
    }

    [Fact]
    public void WriterRefusesDataOfTheWrongSize()
    {
        var writer = new SafetensorsWriter();
        Assert.Throws<ArgumentException>(() => writer.Add("x", SafetensorsDType.F16, [3], new byte[4]));
    }

    // Hand-made headers for the rules the reference library enforces.
    [Theory]
    [InlineData("{\"t\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'F33'")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 6, "overlaps")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "hole of 4 bytes")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "trailing bytes")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2, "past the end")]
    [InlineData("{\"t\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflows")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative integer")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "end before they begin")]
    [InlineData("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", 0, "expected a string")]
    [InlineData("[1,2]", 0, "expected an object")]
    [InlineData("{\"t\":", 0, "not valid JSON")]
    public void BadHeadersAreRefusedByName(string header, int dataBytes, string expected)
    {
        var path = Path.Combine(_dir, "bad.safetensors");
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<AgoraFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(path, e.Message);
    }

    [Theory]
    [InlineData(ulong.MaxValue, "exceeds")]
    [InlineData(200_000_000UL, "exceeds")]
    [InlineData(1000UL, "runs past the end")]
    public void AbsurdHeaderLengthsAreRefused(ulong length, string expected)
    {
        var path = Path.Combine(_dir, "len.safetensors");
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
        File.WriteAllBytes(path, bytes);
        Assert.Contains(expected, Assert.Throws<AgoraFormatException>(() => SafetensorsFile.Open(path)).Message);
        File.WriteAllBytes(path, new byte[5]);
        Assert.Contains("too short", Assert.Throws<AgoraFormatException>(() => SafetensorsFile.Open(path)).Message);
    }

    /// <summary>
    /// Seeded corruption of a small valid file: bit flips in the header, truncations, lying offsets and sizes,
    /// random header lengths. Each case must open cleanly or fail with exactly AgoraFormatException.
    /// </summary>
    [Fact]
    public void MutatedFilesOpenOrFailCleanly()
    {
        var writer = new SafetensorsWriter([new("format", "pt")]);
        writer.Add("w", SafetensorsDType.F32, [3, 4], new byte[48]);
        writer.Add("b", SafetensorsDType.F16, [4], new byte[8]);
        writer.Add("ids", SafetensorsDType.I64, [2], new byte[16]);
        writer.Add("mask", SafetensorsDType.BOOL, [5], new byte[5]);
        var original = Path.Combine(_dir, "small.safetensors");
        writer.Write(original);
        var good = File.ReadAllBytes(original);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(good);
        var header = Encoding.UTF8.GetString(good, 8, headerEnd - 8);
        var digitPositions = Enumerable.Range(8, headerEnd - 8).Where(i => char.IsAsciiDigit((char)good[i])).ToArray();

        var random = new Random(20261126);
        var path = Path.Combine(_dir, "mutant.safetensors");
        int opened = 0, refused = 0;
        for (int i = 0; i < 4000; i++)
        {
            var bytes = (byte[])good.Clone();
            switch (i % 6)
            {
                case 0: // bit flips in the header
                    for (int k = random.Next(1, 4); k > 0; k--)
                        bytes[random.Next(8, headerEnd)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1: // truncation anywhere
                    Array.Resize(ref bytes, random.Next(bytes.Length));
                    break;
                case 2: // a lying digit in an offset, size or shape
                    bytes[digitPositions[random.Next(digitPositions.Length)]] = (byte)('0' + random.Next(10));
                    break;
                case 3: // absurd or slightly wrong header length
                    ulong length = random.Next(3) switch
                    {
                        0 => (ulong)random.NextInt64(),
                        1 => (ulong)(headerEnd - 8 + random.Next(-16, 17)),
                        _ => ulong.MaxValue - (ulong)random.Next(100),
                    };
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
                    break;
                case 4: // extra bytes after the data, or random bytes in place of header bytes
                    if (random.Next(2) == 0) Array.Resize(ref bytes, bytes.Length + random.Next(1, 9));
                    else bytes[random.Next(8, headerEnd)] = (byte)random.Next(256);
                    break;
                default: // a shape or offset replaced by a huge number
                    var text = header;
                    var digits = System.Text.RegularExpressions.Regex.Matches(text, "[0-9]+").ToArray();
                    var pick = digits[random.Next(digits.Length)];
                    var huge = random.Next(2) == 0 ? "18446744073709551615" : random.NextInt64().ToString();
                    text = text[..pick.Index] + huge + text[(pick.Index + pick.Length)..];
                    var json = Encoding.UTF8.GetBytes(text);
                    bytes = new byte[8 + json.Length + good.Length - headerEnd];
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
                    json.CopyTo(bytes, 8);
                    good.AsSpan(headerEnd).CopyTo(bytes.AsSpan(8 + json.Length));
                    break;
            }
            File.WriteAllBytes(path, bytes);
            try
            {
                using var file = SafetensorsFile.Open(path);
                foreach (var t in file.Tensors) _ = file.TensorData(t).Length;
                opened++;
            }
            catch (AgoraFormatException)
            {
                refused++;
            }
        }
        Assert.True(refused > 2000, $"only {refused} refused");
        Assert.True(opened > 0, "no mutant opened");
    }
}
