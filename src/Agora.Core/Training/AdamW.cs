namespace Agora.Training;

/// <summary>AdamW's hyper-parameters; the defaults are torch.optim.AdamW's.</summary>
public sealed record AdamWOptions(float Beta1 = 0.9f, float Beta2 = 0.999f, float Epsilon = 1e-8f, float WeightDecay = 0.01f)
{
    public void Validate()
    {
        if (!(Beta1 is >= 0 and < 1) || !(Beta2 is >= 0 and < 1)) throw new AgoraException($"Adam's betas ({Beta1}, {Beta2}) must lie in [0, 1)");
        if (!(Epsilon > 0) || !float.IsFinite(Epsilon)) throw new AgoraException($"Adam's epsilon {Epsilon} must be positive");
        if (!(WeightDecay >= 0) || !float.IsFinite(WeightDecay)) throw new AgoraException($"weight decay {WeightDecay} must be zero or positive");
    }
}

/// <summary>
/// AdamW as PyTorch computes it (torch.optim.AdamW, single-tensor path): decoupled weight decay p ← p·(1 − lr·wd)
/// first, then m ← m + (1 − β₁)(g − m), v ← β₂v + (1 − β₂)g², p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε).
/// The moments are float32 like PyTorch's; the bias corrections are formed in double as Python does.
/// </summary>
public sealed class AdamW
{
    readonly IReadOnlyList<TrainableParameter> _parameters;

    public AdamWOptions Options { get; }
    /// <summary>Steps taken so far (t of the bias correction after the next step is StepCount + 1).</summary>
    public int StepCount { get; private set; }
    /// <summary>The first and second moments, one array per parameter in parameter order (the optimizer state a checkpoint saves).</summary>
    public IReadOnlyList<float[]> FirstMoments { get; }
    public IReadOnlyList<float[]> SecondMoments { get; }

    public AdamW(IReadOnlyList<TrainableParameter> parameters, AdamWOptions options)
    {
        options.Validate();
        _parameters = parameters;
        Options = options;
        FirstMoments = [.. parameters.Select(p => new float[p.Value.Length])];
        SecondMoments = [.. parameters.Select(p => new float[p.Value.Length])];
    }

    /// <summary>Restores a saved state: the step count and moments taken from a checkpoint.</summary>
    public void Restore(int stepCount, IReadOnlyList<float[]> firstMoments, IReadOnlyList<float[]> secondMoments)
    {
        if (stepCount < 0) throw new AgoraException($"optimizer step count {stepCount} is negative");
        if (firstMoments.Count != _parameters.Count || secondMoments.Count != _parameters.Count)
            throw new AgoraException($"the optimizer state has {firstMoments.Count}/{secondMoments.Count} moments for {_parameters.Count} parameters");
        for (int i = 0; i < _parameters.Count; i++)
        {
            if (firstMoments[i].Length != FirstMoments[i].Length || secondMoments[i].Length != SecondMoments[i].Length)
                throw new AgoraException($"the optimizer state of '{_parameters[i].Name}' has the wrong size");
            firstMoments[i].CopyTo(FirstMoments[i], 0);
            secondMoments[i].CopyTo(SecondMoments[i], 0);
        }
        StepCount = stepCount;
    }

    /// <summary>One update of every parameter from its current gradient, at <paramref name="learningRate"/>.</summary>
    public void Step(float learningRate)
    {
        if (!float.IsFinite(learningRate) || learningRate < 0) throw new AgoraException($"learning rate {learningRate} must be zero or positive");
        StepCount++;
        var o = Options;
        double correction1 = 1 - Math.Pow(o.Beta1, StepCount);
        float stepSize = (float)(learningRate / correction1);
        float correction2Sqrt = (float)Math.Sqrt(1 - Math.Pow(o.Beta2, StepCount));
        float decay = 1 - learningRate * o.WeightDecay;
        Parallel.For(0, _parameters.Count, i =>
        {
            var p = _parameters[i].Value;
            var g = _parameters[i].Gradient;
            var m = FirstMoments[i];
            var v = SecondMoments[i];
            for (int j = 0; j < p.Length; j++)
            {
                p[j] *= decay;
                m[j] += (g[j] - m[j]) * (1 - o.Beta1);
                v[j] = v[j] * o.Beta2 + (1 - o.Beta2) * g[j] * g[j];
                p[j] -= stepSize * (m[j] / (MathF.Sqrt(v[j]) / correction2Sqrt + o.Epsilon));
            }
        });
    }
}
