namespace Agora.Training;

/// <summary>What one optimizer step did: the mean loss over its scored labels, the gradient norm before clipping, the rate used.</summary>
public readonly record struct StepResult(int Step, double Loss, double GradientNorm, float LearningRate, int ScoredLabels);

/// <summary>
/// Optimizer steps over a <see cref="TrainableTransformer"/>: gradients accumulated over the step's micro-batches
/// (averaged over all their scored labels, as one big batch would be), clipped by global norm
/// (<see cref="ClipNorm"/> 0 = off, PyTorch's clip_grad_norm_), then one AdamW update at the schedule's rate.
/// </summary>
public sealed class Trainer
{
    public TrainableTransformer Model { get; }
    public AdamW Optimizer { get; }
    public LearningRateSchedule Schedule { get; }
    public float ClipNorm { get; }
    /// <summary>Optimizer steps taken (also the 0-based index of the next).</summary>
    public int StepCount => Optimizer.StepCount;

    public Trainer(TrainableTransformer model, AdamWOptions options, LearningRateSchedule schedule, float clipNorm = 0)
    {
        schedule.Validate();
        if (!(clipNorm >= 0) || !float.IsFinite(clipNorm)) throw new AgoraException($"gradient clipping norm {clipNorm} must be zero (off) or positive");
        Model = model;
        Optimizer = new AdamW(model.Parameters, options);
        Schedule = schedule;
        ClipNorm = clipNorm;
    }

    public StepResult Step(params IReadOnlyList<TrainingBatch> microBatches)
    {
        if (microBatches.Count == 0) throw new ArgumentException("a step needs at least one batch", nameof(microBatches));
        int scored = microBatches.Sum(b => b.ScoredCount);
        if (scored == 0) throw new AgoraException("no label of this step's batches is scored (all are -100)");
        Model.ZeroGradients();
        double loss = 0;
        foreach (var batch in microBatches) loss += Model.AccumulateGradients(batch, scored);
        double norm = GlobalNorm(Model.Parameters);
        if (ClipNorm > 0)
        {
            double coefficient = ClipNorm / (norm + 1e-6);
            if (coefficient < 1)
                foreach (var p in Model.Parameters)
                    System.Numerics.Tensors.TensorPrimitives.Multiply(p.Gradient, (float)coefficient, p.Gradient);
        }
        int step = Optimizer.StepCount;
        float rate = Schedule.RateAt(step);
        Optimizer.Step(rate);
        return new StepResult(step, loss / scored, norm, rate, scored);
    }

    /// <summary>√Σ‖g‖² over every parameter's gradient, in double.</summary>
    public static double GlobalNorm(IReadOnlyList<TrainableParameter> parameters)
    {
        double sum = 0;
        foreach (var p in parameters)
            foreach (var g in p.Gradient) sum += (double)g * g;
        return Math.Sqrt(sum);
    }
}
