using System.Buffers.Binary;
using Agora.Formats.Gguf;
using Agora.Tensors;

namespace Agora.Tests.Formats;

/// <summary>
/// Damaged files, thousands of them, seeded: each must either open (and then be fully readable) or be refused with
/// exactly one <see cref="AgoraFormatException"/> naming the file and a byte offset inside it.
/// </summary>
public class GgufMutationTests(ITestOutputHelper output)
{
    const string Name = "mutant.gguf";

    /// <summary>A small but varied file: every value type, nested arrays, a slice of a real vocabulary, three tensors.</summary>
    static byte[] SmallFile()
    {
        var w = GgufWriterTests.EveryValueType(3);
        var model = Path.Combine(Fixtures.Root, "models", "llama-a", "model-f32.gguf");
        if (File.Exists(model))
        {
            using var source = GgufFile.Open(model);
            foreach (var (key, value) in source.Metadata.Take(12))
                if (key != "general.architecture") w.Add(key, value);
            w.Add("tokenizer.ggml.tokens", GgufValue.StringArray(source.GetStringArray("tokenizer.ggml.tokens").Take(24)));
        }
        var rng = new Random(7);
        var f32 = new byte[4 * 2 * 4];
        var q8 = new byte[34];
        var f16 = new byte[8 * 2];
        rng.NextBytes(f32);
        rng.NextBytes(q8);
        rng.NextBytes(f16);
        w.AddTensor("blk.0.f32", GgmlType.F32, [4, 2], f32);
        w.AddTensor("blk.0.q8", GgmlType.Q8_0, [32], q8);
        w.AddTensor("blk.0.f16", GgmlType.F16, [8], f16);
        return w.ToBytes();
    }

    sealed class Outcome
    {
        public int Opened, Refused;
        public override string ToString() => $"opened {Opened}, refused {Refused}";
    }

    static void Check(byte[] bytes, Outcome outcome, string mutation)
    {
        try
        {
            using var file = GgufFile.FromBytes(bytes, Name);
            // Whatever opens must be wholly usable: every value readable, every tensor inside the buffer.
            foreach (var (key, value) in file.Metadata)
                _ = value.Type == GgufValueType.Array ? value.AsArray().Count : value.ToString().Length;
            long sum = 0;
            foreach (var t in file.Tensors)
            {
                Assert.True(file.DataOffset + t.Offset + t.ByteSize <= bytes.Length, $"{mutation}: tensor {t.Name} outside the buffer");
                foreach (byte b in file.TensorData(t)) sum += b;
            }
            // And writing it back gives a file that reads again.
            using var again = GgufFile.FromBytes(GgufWriter.From(file).ToBytes(), Name);
            Assert.Equal(file.Metadata.Count, again.Metadata.Count);
            outcome.Opened++;
        }
        catch (AgoraFormatException e)
        {
            Assert.True(e.Path == Name && e.Message.StartsWith(Name + ": at byte ", StringComparison.Ordinal), $"{mutation}: {e.Message}");
            Assert.True(e.Offset is >= 0 && e.Offset <= bytes.Length, $"{mutation}: offset {e.Offset} outside the file");
            outcome.Refused++;
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{mutation}: {e.GetType().Name}: {e.Message}");
        }
    }

    [Fact]
    public void SmallFileOpens()
    {
        var bytes = SmallFile();
        using var file = GgufFile.FromBytes(bytes, Name);
        Assert.Equal(3, file.Tensors.Count);
        Assert.True(bytes.Length < 8192, $"the mutation subject should stay small, it is {bytes.Length} bytes");
    }

    [Fact]
    public void EveryTruncationIsRefused()
    {
        var bytes = SmallFile();
        var outcome = new Outcome();
        for (int n = 0; n < bytes.Length; n++)
            Check(bytes[..n], outcome, $"truncated to {n} bytes");
        output.WriteLine($"{bytes.Length} truncations: {outcome}");
        // Only cutting away the padding after the last tensor leaves a valid file.
        Assert.True(outcome.Refused >= bytes.Length - 32, $"{outcome.Refused} refused of {bytes.Length}");
    }

    [Fact]
    public void RandomBitFlipsAndByteChanges()
    {
        var original = SmallFile();
        var bytes = new byte[original.Length];
        var rng = new Random(20250226);
        var outcome = new Outcome();
        for (int i = 0; i < 6000; i++)
        {
            original.CopyTo(bytes, 0);
            int changes = 1 + rng.Next(4);
            var where = new List<string>();
            for (int c = 0; c < changes; c++)
            {
                int at = rng.Next(bytes.Length);
                if (i % 2 == 0) bytes[at] ^= (byte)(1 << rng.Next(8));
                else bytes[at] = (byte)rng.Next(256);
                where.Add(at.ToString());
            }
            Check(bytes, outcome, $"case {i}: {(i % 2 == 0 ? "bit flips" : "byte changes")} at {string.Join(",", where)}");
        }
        output.WriteLine($"6000 random changes: {outcome}");
        Assert.True(outcome.Opened > 100 && outcome.Refused > 1000, $"opened {outcome.Opened}, refused {outcome.Refused}");
    }

    /// <summary>
    /// Absurd numbers written at every position of the header, metadata and tensor infos, so that every length,
    /// count, type, dimension and offset field gets each of them whatever its place.
    /// </summary>
    [Fact]
    public void AbsurdValuesInEveryField()
    {
        var original = SmallFile();
        using var file = GgufFile.FromBytes(original, Name);
        int headerEnd = (int)file.DataOffset;
        ulong[] wide = [ulong.MaxValue, long.MaxValue, 1UL << 62, 1UL << 32, (ulong)original.Length, (ulong)original.Length - 1, 0];
        uint[] narrow = [uint.MaxValue, 0x80000000, 13, 5, 64, (uint)original.Length];
        var bytes = new byte[original.Length];
        var outcome = new Outcome();
        for (int at = 0; at < headerEnd; at++)
        {
            foreach (var v in wide)
            {
                if (at + 8 > bytes.Length) break;
                original.CopyTo(bytes, 0);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), v);
                Check(bytes, outcome, $"uint64 {v} at {at}");
            }
            foreach (var v in narrow)
            {
                original.CopyTo(bytes, 0);
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), v);
                Check(bytes, outcome, $"uint32 {v} at {at}");
            }
        }
        output.WriteLine($"absurd values at {headerEnd} positions: {outcome}");
        Assert.True(outcome.Refused > headerEnd * 4, $"opened {outcome.Opened}, refused {outcome.Refused}");
    }

    /// <summary>Tensor infos lying about placement: each is refused naming the tensor.</summary>
    [Fact]
    public void TensorPlacementLiesAreRefused()
    {
        var original = SmallFile();
        using var file = GgufFile.FromBytes(original, Name);
        var last = file.Tensors[^1];
        int infoEnd = EndOfTensorInfo(original, last);

        string Refusal(ulong offset)
        {
            var bytes = (byte[])original.Clone();
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(infoEnd - 8), offset);
            return Assert.Throws<AgoraFormatException>(() => GgufFile.FromBytes(bytes, Name).Dispose()).Message;
        }

        Assert.Contains("not a multiple of the alignment", Refusal((ulong)last.Offset + 4));
        Assert.Contains("past the end of the file", Refusal((ulong)last.Offset + 1024));
        Assert.Contains("overlaps", Refusal(0));
        Assert.Contains(last.Name, Refusal(1UL << 63));
    }

    /// <summary>Where a tensor's info ends: after its name come n_dims, the dims, the type id and the offset (last 8 bytes).</summary>
    static int EndOfTensorInfo(byte[] bytes, GgufTensorInfo tensor)
    {
        var name = System.Text.Encoding.UTF8.GetBytes(tensor.Name);
        int at = bytes.AsSpan().LastIndexOf(name);
        Assert.True(at > 0);
        return at + name.Length + 4 + 8 * tensor.Shape.Length + 4 + 8;
    }

    [Fact]
    public void DuplicateTensorNamesAreRefused()
    {
        var mutated = SmallFile();
        // Rename the first tensor to the third's name, of the same length.
        "blk.0.f16"u8.CopyTo(mutated.AsSpan(mutated.AsSpan().IndexOf("blk.0.f32"u8)));
        var e = Assert.Throws<AgoraFormatException>(() => GgufFile.FromBytes(mutated, Name).Dispose());
        Assert.Contains("'blk.0.f16' appears twice", e.Message);
    }

    [Fact]
    public void DuplicateKeysAreRefused()
    {
        var bytes = SmallFile();
        int at = bytes.AsSpan().IndexOf("u16"u8);
        var mutated = (byte[])bytes.Clone();
        "i16"u8.CopyTo(mutated.AsSpan(at));
        var e = Assert.Throws<AgoraFormatException>(() => GgufFile.FromBytes(mutated, Name).Dispose());
        Assert.Contains("'i16' appears twice", e.Message);
        // Reported at the second "i16" entry, the original one, after the renamed entry's 8 + 3 + 4 + 2 bytes.
        Assert.Equal(at - 8 + 17, e.Offset);
    }

    [Fact]
    public void WrongSizesAndUnknownTypesNameTheTensor()
    {
        var original = SmallFile();
        using var file = GgufFile.FromBytes(original, Name);
        var q8 = file.FindTensor("blk.0.q8")!;
        int end = EndOfTensorInfo(original, q8);
        int typeAt = end - 12, dimAt = end - 12 - 8;

        var bytes = (byte[])original.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(typeAt), 4); // a retired id
        var e = Assert.Throws<AgoraFormatException>(() => GgufFile.FromBytes(bytes, Name).Dispose());
        Assert.Contains("'blk.0.q8' has unknown or retired ggml type id 4", e.Message);
        Assert.Equal(typeAt, e.Offset);

        bytes = (byte[])original.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(dimAt), 33);
        Assert.Contains("not a multiple of the block size 32", Assert.Throws<AgoraFormatException>(() => GgufFile.FromBytes(bytes, Name).Dispose()).Message);

        bytes = (byte[])original.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(dimAt - 4), 5);
        Assert.Contains("5 dimensions", Assert.Throws<AgoraFormatException>(() => GgufFile.FromBytes(bytes, Name).Dispose()).Message);
    }
}
