using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Agora.Formats.Safetensors;
using Agora.Inference;

namespace Agora.Tests.Models;

/// <summary>One reference prompt of a fixture model: its ids (BOS first), the greedy continuation and its margin.</summary>
public sealed record ReferencePrompt(int Index, int[] Ids, int[] GreedyIds, double GreedyMinMargin);

/// <summary>What the reference stack computed for a fixture model (reference.json and reference_logits.safetensors).</summary>
public sealed class ModelReference
{
    readonly string _folder;

    public IReadOnlyList<ReferencePrompt> Prompts { get; }

    ModelReference(string folder, IReadOnlyList<ReferencePrompt> prompts)
    {
        _folder = folder;
        Prompts = prompts;
    }

    public static ModelReference Load(string model)
    {
        var folder = Fixtures.Require("models", model);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "reference.json")))!;
        var prompts = json["prompts"]!.AsArray().Select((p, i) => new ReferencePrompt(i,
            p!["ids"]!.AsArray().Select(v => (int)v!).ToArray(),
            p["greedy_ids"]!.AsArray().Select(v => (int)v!).ToArray(),
            (double)p["greedy_min_margin"]!)).ToList();
        return new ModelReference(folder, prompts);
    }

    /// <summary>A float32 tensor of reference_logits.safetensors (or another file of the folder).</summary>
    public float[] Tensor(string name, string file = "reference_logits.safetensors")
    {
        using var st = SafetensorsFile.Open(Path.Combine(_folder, file));
        return MemoryMarshal.Cast<byte, float>(st.TensorData(st.Get(name))).ToArray();
    }

    /// <summary>‖a − b‖ / ‖b‖, in double.</summary>
    public static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = actual[i] - (double)expected[i];
            diff += d * d;
            norm += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(diff / norm);
    }

    /// <summary>Logits at every position of <paramref name="ids"/> in one pass from a fresh session.</summary>
    public static float[] AllLogits(ITokenSession session, ReadOnlySpan<int> ids)
    {
        var logits = new float[ids.Length * session.VocabSize];
        session.Evaluate(ids, logits);
        return logits;
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }

    /// <summary>Greedy decoding: prefill the prompt, then feed back the argmax <paramref name="count"/> − 1 times.</summary>
    public static int[] Greedy(ITokenSession session, int[] prompt, int count)
    {
        var logits = new float[session.VocabSize];
        var result = new int[count];
        session.Evaluate(prompt, logits);
        for (int i = 0; i < count; i++)
        {
            result[i] = ArgMax(logits);
            if (i + 1 < count) session.Evaluate([result[i]], logits);
        }
        return result;
    }
}
