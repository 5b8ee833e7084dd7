using System.Text.Json.Nodes;
using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>
/// A fixture model (hf/) opened for training, its checkpoint kept open: LoRA from the fixture's PEFT adapter (lora/),
/// or every weight. <see cref="Batch"/> is the reference training batch of reference.json (lora.train_batch / labels).
/// </summary>
sealed class TrainingFixture : IDisposable
{
    public Checkpoint Checkpoint { get; }
    public TrainableTransformer Training { get; }
    public JsonNode Lora { get; }
    public int[][] Tokens { get; }
    public int[][] Labels { get; }
    public TrainingBatch Batch => TrainingBatch.FromRows(Tokens, Labels);

    public TrainingFixture(string model, bool allWeights = false)
    {
        Lora = JsonNode.Parse(File.ReadAllText(Fixtures.Require("models", model, "reference.json")))!["lora"]!;
        Tokens = Rows(Lora["train_batch"]!);
        Labels = Rows(Lora["labels"]!);
        var adapter = Fixtures.Require("models", model, "lora");
        Checkpoint = Checkpoint.Open(Fixtures.Require("models", model, "hf"));
        Training = allWeights ? TrainableTransformer.ForAllWeights(Checkpoint) : TrainableTransformer.ForLora(Checkpoint, LoraAdapter.Load(adapter, Checkpoint));
    }

    static int[][] Rows(JsonNode node) => [.. node.AsArray().Select(r => r!.AsArray().Select(v => (int)v!).ToArray())];

    /// <summary>Zeroes the gradients, runs forward and backward over <paramref name="batch"/>, returns the mean loss and a copy of every gradient.</summary>
    public (double Loss, float[][] Gradients) Gradients(TrainingBatch batch)
    {
        Training.ZeroGradients();
        double loss = Training.AccumulateGradients(batch, batch.ScoredCount) / batch.ScoredCount;
        return (loss, [.. Training.Parameters.Select(p => (float[])p.Gradient.Clone())]);
    }

    public void Dispose() => Checkpoint.Dispose();
}
