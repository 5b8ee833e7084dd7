using System.Buffers.Binary;
using System.Text;
using Agora.Formats.Gguf;
using Agora.Tensors;

namespace Agora.Tests.Formats;

public class GgufReaderTests
{
    /// <summary>Every GGUF file under the fixtures, relative to the fixtures root.</summary>
    public static TheoryData<string> FixtureFiles()
    {
        var data = new TheoryData<string>();
        if (Directory.Exists(Fixtures.Root))
            foreach (var f in Directory.EnumerateFiles(Fixtures.Root, "*.gguf", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                data.Add(Path.GetRelativePath(Fixtures.Root, f));
        if (data.Count == 0) data.Add(Path.Combine("models", "llama-a", "model-f32.gguf")); // skipped when absent
        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void EveryFixtureReads(string relative)
    {
        var path = Fixtures.Require(relative);
        using var file = GgufFile.Open(path);
        long length = new FileInfo(path).Length;

        Assert.Equal(3u, file.Version);
        Assert.False(string.IsNullOrEmpty(file.GetString("general.architecture")));
        Assert.Equal(0, file.DataOffset % file.Alignment);
        bool isModel = relative.StartsWith("models", StringComparison.Ordinal);
        if (isModel) Assert.NotEmpty(file.Tensors);
        else Assert.NotEmpty(file.GetStringArray("tokenizer.ggml.tokens"));
        foreach (var t in file.Tensors)
        {
            Assert.InRange(t.Shape.Length, 1, 4);
            Assert.True(file.DataOffset + t.Offset + t.ByteSize <= length, $"{t.Name} lies past the end");
            Assert.Equal(GgmlTypeInfo.ByteSize(t.Type, t.ElementCount), t.ByteSize);
            Assert.Same(t, file.FindTensor(t.Name));
            Assert.Equal((int)t.ByteSize, file.TensorData(t).Length);
        }
        if (isModel && file.FindTensor("token_embd.weight") is { } embedding && file.TryGetValue("tokenizer.ggml.tokens", out var tokens))
            Assert.Equal(embedding.Shape[1], tokens.Count);
    }

    [Fact]
    public void LlamaHyperparametersMatchTheFixtureReadme()
    {
        using var file = GgufFile.Open(Fixtures.Require("models", "llama-a", "model-f32.gguf"));
        Assert.Equal("llama", file.GetString("general.architecture"));
        Assert.Equal(256, file.GetInt64("llama.embedding_length"));
        Assert.Equal(2, file.GetInt64("llama.block_count"));
        Assert.Equal(8, file.GetInt64("llama.attention.head_count"));
        Assert.Equal(4, file.GetInt64("llama.attention.head_count_kv"));
        Assert.Equal(768, file.GetInt64("llama.feed_forward_length"));
        Assert.Equal("general.architecture", file.Metadata.Keys.First(k => !k.StartsWith("GGUF", StringComparison.Ordinal)));
        var q = file.FindTensor("blk.0.attn_q.weight")!;
        Assert.Equal([256L, 256L], q.Shape);
        Assert.Equal(GgmlType.F32, q.Type);
    }

    /// <summary>The f16 file holds the same weights as the f32 file, so its data offsets must point at the same numbers.</summary>
    [Fact]
    public void F16TensorsAreTheRoundedF32Tensors()
    {
        using var f32 = GgufFile.Open(Fixtures.Require("models", "llama-a", "model-f32.gguf"));
        using var f16 = GgufFile.Open(Fixtures.Require("models", "llama-a", "model-f16.gguf"));
        Assert.Equal(f32.Tensors.Select(t => t.Name), f16.Tensors.Select(t => t.Name));
        int halves = 0;
        foreach (var t16 in f16.Tensors)
        {
            var t32 = f32.FindTensor(t16.Name)!;
            Assert.Equal(t32.Shape, t16.Shape);
            var wide = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(f32.TensorData(t32));
            if (t16.Type == GgmlType.F32)
            {
                Assert.True(f32.TensorData(t32).SequenceEqual(f16.TensorData(t16)));
                continue;
            }
            Assert.Equal(GgmlType.F16, t16.Type);
            var narrow = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(f16.TensorData(t16));
            for (int i = 0; i < wide.Length; i++)
                Assert.Equal((Half)wide[i], narrow[i]);
            halves++;
        }
        Assert.True(halves > 0);
    }

    [Fact]
    public void TypedGettersNameTheFileAndKey()
    {
        var path = Fixtures.Require("models", "llama-a", "model-f32.gguf");
        using var file = GgufFile.Open(path);
        var missing = Assert.Throws<AgoraFormatException>(() => file.GetString("no.such.key"));
        Assert.Contains(path, missing.Message);
        Assert.Contains("no.such.key", missing.Message);
        var wrong = Assert.Throws<AgoraFormatException>(() => file.GetString("llama.block_count"));
        Assert.Contains("llama.block_count", wrong.Message);
        Assert.Contains("not a string", wrong.Message);
        Assert.Throws<AgoraFormatException>(() => file.GetInt64("general.architecture"));
        Assert.Throws<AgoraFormatException>(() => file.GetBool("general.architecture"));
        Assert.Throws<AgoraFormatException>(() => file.GetStringArray("general.architecture"));
        Assert.Null(file.FindTensor("no.such.tensor"));
    }

    // ---- hand-built headers for the refusals ----

    static byte[] Header(uint version, ulong tensors = 0, ulong kvs = 0, uint magic = 0x46554747)
    {
        var b = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(b, magic);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), version);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), tensors);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), kvs);
        return b;
    }

    static AgoraFormatException Refused(byte[] bytes) =>
        Assert.Throws<AgoraFormatException>(() => GgufFile.FromBytes(bytes, "test.gguf").Dispose());

    [Fact]
    public void EmptyHeaderReads()
    {
        using var file = GgufFile.FromBytes(Header(2), "v2.gguf");
        Assert.Equal(2u, file.Version);
        Assert.Empty(file.Metadata);
        Assert.Empty(file.Tensors);
        Assert.Equal(32, file.Alignment);
    }

    [Fact]
    public void VersionOneIsRefused()
    {
        var e = Refused(Header(1));
        Assert.Contains("version 1", e.Message);
        Assert.Equal(4, e.Offset);
        Assert.StartsWith("test.gguf: at byte 4:", e.Message);
    }

    [Fact]
    public void BigEndianIsRefused() => Assert.Contains("big-endian", Refused(Header(0x03000000)).Message);

    [Fact]
    public void UnknownVersionIsRefused() => Assert.Contains("version 7", Refused(Header(7)).Message);

    [Fact]
    public void WrongMagicIsRefused()
    {
        Assert.Contains("not a GGUF", Refused(Header(3, magic: 0x12345678)).Message);
        Assert.Contains("not a GGUF", Refused([]).Message);
        Assert.Contains("not a GGUF", Refused("GG"u8.ToArray()).Message);
    }

    [Fact]
    public void TruncatedHeaderIsRefused()
    {
        var e = Refused(Header(3)[..20]);
        Assert.Equal(16, e.Offset);
        Assert.Contains("ends after 20 bytes", e.Message);
    }

    [Fact]
    public void AbsurdCountsAreRefusedBeforeAllocating()
    {
        Assert.Contains("cannot fit", Refused(Header(3, kvs: ulong.MaxValue)).Message);
        Assert.Contains("cannot fit", Refused(Header(3, tensors: 1UL << 40)).Message);
    }

    [Fact]
    public void OpeningAMissingFileIsAnAgoraException()
    {
        var e = Assert.Throws<AgoraException>(() => GgufFile.Open(Path.Combine(Path.GetTempPath(), "agora-no-such-file.gguf")));
        Assert.Contains("agora-no-such-file.gguf", e.Message);
    }

    [Fact]
    public void EmptyFileIsRefused()
    {
        var path = Path.Combine(Path.GetTempPath(), $"agora-empty-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, []);
        try
        {
            var e = Assert.Throws<AgoraFormatException>(() => GgufFile.Open(path));
            Assert.Contains(path, e.Message);
        }
        finally { File.Delete(path); }
    }

    /// <summary>One metadata entry after a v3 header with one entry.</summary>
    static byte[] WithEntry(string key, GgufValueType type, byte[] payload)
    {
        var ms = new MemoryStream();
        ms.Write(Header(3, kvs: 1));
        Span<byte> n = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(n, (ulong)Encoding.UTF8.GetByteCount(key));
        ms.Write(n);
        ms.Write(Encoding.UTF8.GetBytes(key));
        BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)type);
        ms.Write(n[..4]);
        ms.Write(payload);
        return ms.ToArray();
    }

    [Fact]
    public void BadAlignmentIsRefused()
    {
        Assert.Contains("power of two", Refused(WithEntry("general.alignment", GgufValueType.UInt32, [48, 0, 0, 0])).Message);
        Assert.Contains("power of two", Refused(WithEntry("general.alignment", GgufValueType.UInt32, [0, 0, 0, 0])).Message);
        Assert.Contains("must be a uint32", Refused(WithEntry("general.alignment", GgufValueType.UInt64, [32, 0, 0, 0, 0, 0, 0, 0])).Message);
        using var ok = GgufFile.FromBytes(WithEntry("general.alignment", GgufValueType.UInt32, [64, 0, 0, 0]), "a.gguf");
        Assert.Equal(64, ok.Alignment);
    }

    [Fact]
    public void BadValuesAreRefused()
    {
        Assert.Contains("unknown metadata value type 13", Refused(WithEntry("k", (GgufValueType)13, [])).Message);
        Assert.Contains("not 0 or 1", Refused(WithEntry("k", GgufValueType.Bool, [2])).Message);
        var longString = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(longString, ulong.MaxValue);
        Assert.Contains("runs past the end", Refused(WithEntry("k", GgufValueType.String, longString)).Message);
    }

    [Fact]
    public void DeepNestingIsRefused()
    {
        var ms = new MemoryStream();
        for (int i = 0; i < 100; i++) ms.Write([9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]); // array of 1 array ...
        var e = Refused(WithEntry("k", GgufValueType.Array, ms.ToArray()));
        Assert.Contains("nested more than", e.Message);
    }

    [Fact]
    public void InvalidUtf8InAValueIsKeptForWritingBack()
    {
        // "a", a lone continuation byte, "b": GGUF strings should be UTF-8, but the bytes must survive a round trip.
        byte[] payload = [3, 0, 0, 0, 0, 0, 0, 0, (byte)'a', 0x80, (byte)'b'];
        var bytes = WithEntry("k", GgufValueType.String, payload);
        using var file = GgufFile.FromBytes(bytes, "utf8.gguf");
        Assert.Equal("a\uFFFDb", file.GetString("k"));
        Assert.Equal(bytes, GgufWriter.From(file).ToBytes());

        var array = new MemoryStream();
        array.Write([8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]); // two strings
        array.Write(payload);
        array.Write([1, 0, 0, 0, 0, 0, 0, 0, (byte)'c']);
        var arrayFile = WithEntry("k", GgufValueType.Array, array.ToArray());
        using var withArray = GgufFile.FromBytes(arrayFile, "utf8.gguf");
        Assert.Equal(["a\uFFFDb", "c"], withArray.GetStringArray("k"));
        Assert.Equal(arrayFile, GgufWriter.From(withArray).ToBytes());
        Assert.False(withArray.Metadata["k"].Equals(GgufValue.StringArray(["a\uFFFDb", "c"])));
        // Taken apart into items and put together again, the array keeps the bytes.
        var items = withArray.Metadata["k"].AsArray();
        Assert.Equal(payload[8..], items[0].InvalidUtf8);
        Assert.Null(items[1].InvalidUtf8);
        Assert.Equal(withArray.Metadata["k"], GgufValue.Array(GgufValueType.String, items));
    }

    [Fact]
    public void InvalidUtf8InAKeyIsRefused() =>
        Assert.Contains("metadata key is not valid UTF-8", Refused(WithEntry("a\u0080", GgufValueType.UInt8, [1]).Select(b => b == 0xC2 ? (byte)'x' : b).ToArray()).Message);

    /// <summary>A 3 GiB tensor in a sparse file: opening reads only the header, and the span view says to use the pointer.</summary>
    [Fact]
    public unsafe void HugeTensorsOpenWithoutReadingTheirData()
    {
        var path = Path.Combine(Path.GetTempPath(), $"agora-huge-{Guid.NewGuid():N}.gguf");
        const long elements = 3L << 28; // 3 GiB of f32
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.String("test"));
        w.AddTensor("huge", GgmlType.F32, [elements], s =>
        {
            s.SetLength(s.Position + elements * 4); // a hole: no disk space, no time
            s.Seek(elements * 4, SeekOrigin.Current);
        });
        try
        {
            w.Write(path);
            using var file = GgufFile.Open(path);
            var t = file.FindTensor("huge")!;
            Assert.Equal(elements * 4, t.ByteSize);
            Assert.Throws<AgoraException>(() => file.TensorData(t));
            Assert.Equal(0, file.TensorPointer(t)[t.ByteSize - 1]);
        }
        finally { File.Delete(path); }
    }
}
