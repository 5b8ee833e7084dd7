using System.Runtime.InteropServices;
using Agora.Formats.Gguf;
using Agora.Tensors;

namespace Agora.Tests.Formats;

public sealed class GgufWriterTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("agora-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> FixtureFiles() => GgufReaderTests.FixtureFiles();

    /// <summary>Read, write back, re-read: same metadata (types, values, order), same tensors, and the very same bytes.</summary>
    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void FixturesRoundTripByteForByte(string relative)
    {
        var path = Fixtures.Require(relative);
        var copy = Path.Combine(_dir, "copy.gguf");
        using (var source = GgufFile.Open(path))
        {
            GgufWriter.From(source).Write(copy);
            using var again = GgufFile.Open(copy);
            AssertSameContent(source, again);
        }
        Assert.True(File.ReadAllBytes(path).AsSpan().SequenceEqual(File.ReadAllBytes(copy)), "the written file differs from the original");
    }

    static void AssertSameContent(GgufFile expected, GgufFile actual)
    {
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Alignment, actual.Alignment);
        Assert.Equal(expected.Metadata.Keys, actual.Metadata.Keys);
        foreach (var (key, value) in expected.Metadata)
        {
            Assert.Equal(value.Type, actual.Metadata[key].Type);
            Assert.True(value.Equals(actual.Metadata[key]), $"metadata '{key}' differs");
        }
        Assert.Equal(expected.Tensors.Count, actual.Tensors.Count);
        for (int i = 0; i < expected.Tensors.Count; i++)
        {
            var (e, a) = (expected.Tensors[i], actual.Tensors[i]);
            Assert.Equal(e.Name, a.Name);
            Assert.Equal(e.Type, a.Type);
            Assert.Equal(e.Shape, a.Shape);
            Assert.True(expected.TensorData(e).SequenceEqual(actual.TensorData(a)), $"tensor '{e.Name}' bytes differ");
        }
    }

    /// <summary>One entry of each value type, and arrays of each, including arrays of arrays of mixed element types.</summary>
    internal static GgufWriter EveryValueType(uint version)
    {
        var w = new GgufWriter(version);
        w.Add("general.architecture", GgufValue.String("test"));
        w.Add("u8", GgufValue.UInt8(250));
        w.Add("i8", GgufValue.Int8(-100));
        w.Add("u16", GgufValue.UInt16(65000));
        w.Add("i16", GgufValue.Int16(-30000));
        w.Add("u32", GgufValue.UInt32(4_000_000_000));
        w.Add("i32", GgufValue.Int32(-2_000_000_000));
        w.Add("u64", GgufValue.UInt64(ulong.MaxValue));
        w.Add("i64", GgufValue.Int64(long.MinValue));
        w.Add("f32", GgufValue.Float32(-1.5f));
        w.Add("f64", GgufValue.Float64(Math.PI));
        w.Add("bool", GgufValue.Bool(true));
        w.Add("string", GgufValue.String("héllo ✓ \0 end"));
        w.Add("empty", GgufValue.String(""));
        w.Add("a.u8", GgufValue.Array(GgufValueType.UInt8, [GgufValue.UInt8(1), GgufValue.UInt8(255)]));
        w.Add("a.i8", GgufValue.Array(GgufValueType.Int8, [GgufValue.Int8(-1)]));
        w.Add("a.u16", GgufValue.Array(GgufValueType.UInt16, [GgufValue.UInt16(7)]));
        w.Add("a.i16", GgufValue.Array(GgufValueType.Int16, [GgufValue.Int16(-7)]));
        w.Add("a.u32", GgufValue.Array(GgufValueType.UInt32, [GgufValue.UInt32(1), GgufValue.UInt32(2)]));
        w.Add("a.i32", GgufValue.Int32Array([1, -2, 3]));
        w.Add("a.u64", GgufValue.Array(GgufValueType.UInt64, [GgufValue.UInt64(1UL << 40)]));
        w.Add("a.i64", GgufValue.Array(GgufValueType.Int64, [GgufValue.Int64(-(1L << 40))]));
        w.Add("a.f32", GgufValue.Float32Array([0.5f, float.NaN, -0f]));
        w.Add("a.f64", GgufValue.Array(GgufValueType.Float64, [GgufValue.Float64(1e300)]));
        w.Add("a.bool", GgufValue.Array(GgufValueType.Bool, [GgufValue.Bool(false), GgufValue.Bool(true)]));
        w.Add("a.string", GgufValue.StringArray(["a", "", "ü"]));
        w.Add("a.empty", GgufValue.Array(GgufValueType.Float32, []));
        w.Add("a.nested", GgufValue.Array(GgufValueType.Array,
        [
            GgufValue.StringArray(["x", "y"]),
            GgufValue.Int32Array([]),
            GgufValue.Array(GgufValueType.Array, [GgufValue.Float32Array([2f])]),
        ]));
        return w;
    }

    [Theory]
    [InlineData(2u)]
    [InlineData(3u)]
    public void EveryValueTypeRoundTrips(uint version)
    {
        var path = Path.Combine(_dir, "values.gguf");
        var w = EveryValueType(version);
        w.Write(path);
        using var file = GgufFile.Open(path);
        Assert.Equal(version, file.Version);
        Assert.Equal(w.Metadata.Keys, file.Metadata.Keys);
        foreach (var (key, value) in w.Metadata)
            Assert.True(value.Equals(file.Metadata[key]), key);
        Assert.Empty(file.Tensors);

        Assert.Equal(250, file.GetInt64("u8"));
        Assert.Equal(-100, file.GetInt64("i8"));
        Assert.Equal(ulong.MaxValue, file.Metadata["u64"].AsUInt64());
        Assert.Throws<AgoraFormatException>(() => file.GetInt64("u64")); // does not fit
        Assert.Equal(long.MinValue, file.GetInt64("i64"));
        Assert.Equal(-1.5, file.GetDouble("f32"));
        Assert.Equal(4e9, file.GetDouble("u32"));
        Assert.True(file.GetBool("bool"));
        Assert.Equal("héllo ✓ \0 end", file.GetString("string"));
        Assert.Equal(["a", "", "ü"], file.GetStringArray("a.string"));
        Assert.Equal([1, -2, 3], file.GetInt32Array("a.i32"));
        Assert.Equal([1, 2], file.GetInt32Array("a.u32"));
        Assert.Equal([false, true], file.Metadata["a.bool"].AsArray().Select(v => v.AsBool()));
        var nested = file.Metadata["a.nested"];
        Assert.Equal(GgufValueType.Array, nested.ElementType);
        Assert.Equal(3, nested.Count);
        Assert.Equal(["x", "y"], nested.AsArray()[0].AsStringArray());
        Assert.Equal(GgufValueType.Int32, nested.AsArray()[1].ElementType);
        Assert.Equal([2f], nested.AsArray()[2].AsArray()[0].AsFloat32Array());
        var f32 = file.Metadata["a.f32"].AsFloat32Array();
        Assert.True(float.IsNaN(f32[1]));
        Assert.True(float.IsNegative(f32[2]));
    }

    [Fact]
    public void TensorsAndCustomAlignment()
    {
        var path = Path.Combine(_dir, "tensors.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.String("test"));
        w.Add("general.alignment", GgufValue.UInt32(256));
        float[] a = [1, 2, 3, 4, 5, 6];
        var q8 = new byte[2 * 34];
        new Random(1).NextBytes(q8);
        w.AddTensor("a", GgmlType.F32, [3, 2], MemoryMarshal.AsBytes(a.AsSpan()).ToArray());
        w.AddTensor("q", GgmlType.Q8_0, [64], q8);
        w.AddTensor("streamed", GgmlType.I32, [5], s => s.Write(MemoryMarshal.AsBytes(new int[] { 1, 2, 3, 4, 5 }.AsSpan())));
        w.AddTensor("empty", GgmlType.F16, [0, 3], ReadOnlyMemory<byte>.Empty);
        w.Write(path);

        Assert.Equal(0, new FileInfo(path).Length % 256);
        using var file = GgufFile.Open(path);
        Assert.Equal(256, file.Alignment);
        Assert.Equal(0, file.DataOffset % 256);
        Assert.Equal(["a", "q", "streamed", "empty"], file.Tensors.Select(t => t.Name));
        Assert.All(file.Tensors, t => Assert.Equal(0, t.Offset % 256));
        Assert.Equal(a, MemoryMarshal.Cast<byte, float>(file.TensorData(file.FindTensor("a")!)).ToArray());
        Assert.Equal([3L, 2L], file.FindTensor("a")!.Shape);
        Assert.Equal(q8, file.TensorData(file.FindTensor("q")!).ToArray());
        Assert.Equal([1, 2, 3, 4, 5], MemoryMarshal.Cast<byte, int>(file.TensorData(file.FindTensor("streamed")!)).ToArray());
        Assert.Equal(0, file.FindTensor("empty")!.ByteSize);

        // A copy of a copy is the same bytes.
        var copy = Path.Combine(_dir, "copy.gguf");
        GgufWriter.From(file).Write(copy);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(copy));
    }

    [Fact]
    public void BadTensorsAreRefusedWhenAdded()
    {
        var w = new GgufWriter();
        w.AddTensor("t", GgmlType.F32, [2], new byte[8]);
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", GgmlType.F32, [2], new byte[8]));      // duplicate
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.F32, [2], new byte[7]));      // wrong size
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.Q4_0, [16], new byte[9]));    // partial block
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", (GgmlType)4, [2], new byte[8]));       // retired type
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.F32, [1, 1, 1, 1, 1], new byte[4]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.F32, [-1], new byte[0]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.F32, [long.MaxValue, 4], new byte[0]));
        Assert.Throws<ArgumentException>(() => w.Add("k", GgufValue.Array(GgufValueType.String, [GgufValue.UInt8(1)])));
        w.Add("k", GgufValue.UInt8(1));
        Assert.Throws<ArgumentException>(() => w.Add("k", GgufValue.UInt8(2)));
        w.Set("k", GgufValue.UInt8(3));
        Assert.Equal(3, w.Metadata["k"].AsInt64());
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(1));
    }

    [Fact]
    public void BadAlignmentIsRefusedBeforeWriting()
    {
        var path = Path.Combine(_dir, "bad.gguf");
        var w = new GgufWriter();
        w.Add("general.alignment", GgufValue.UInt32(48));
        Assert.Throws<ArgumentException>(() => w.Write(path));
        w.Set("general.alignment", GgufValue.UInt64(64));
        Assert.Throws<ArgumentException>(() => w.Write(path));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public void FailedWriteLeavesTheTargetUntouchedAndNoTemporaryFile()
    {
        var path = Path.Combine(_dir, "target.gguf");
        File.WriteAllBytes(path, [1, 2, 3]);
        var w = new GgufWriter();
        w.AddTensor("ok", GgmlType.F32, [1], new byte[4]);
        w.AddTensor("boom", GgmlType.F32, [1], _ => throw new InvalidDataException("source failed"));
        Assert.Throws<InvalidDataException>(() => w.Write(path));
        var short_ = new GgufWriter();
        short_.AddTensor("short", GgmlType.F32, [2], s => s.Write(new byte[4]));
        Assert.Throws<InvalidOperationException>(() => short_.Write(path));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void WritingIntoAMissingFolderIsAnAgoraException()
    {
        var e = Assert.Throws<AgoraException>(() => new GgufWriter().Write(Path.Combine(_dir, "no", "such", "x.gguf")));
        Assert.Contains("cannot write", e.Message);
    }

    [Fact]
    public void OverwritesAnExistingFile()
    {
        var path = Path.Combine(_dir, "over.gguf");
        File.WriteAllBytes(path, new byte[1000]);
        EveryValueType(3).Write(path);
        using var file = GgufFile.Open(path);
        Assert.Equal("test", file.GetString("general.architecture"));
    }
}
