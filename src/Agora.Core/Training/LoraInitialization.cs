using System.Text.RegularExpressions;
using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Inference.Sampling;

namespace Agora.Training;

/// <summary>
/// A new LoRA adapter initialised as PEFT initialises one (reset_lora_parameters with init_lora_weights=True):
/// A by kaiming_uniform_(a=√5), which for A [r, in] is U(−1/√in, 1/√in), and B zero, so training starts from
/// the base model exactly. Draws come from xoshiro256** so a seed gives the same adapter everywhere.
/// </summary>
public static partial class LoraInitialization
{
    [GeneratedRegex(@"\.\d+\.(?:.+\.)?(?<module>[^.]+)\.weight$")]
    private static partial Regex BlockWeight();

    /// <summary>
    /// The module names LoRA can target in <paramref name="checkpoint"/>: the last name part of every matrix inside
    /// a numbered block (q_proj, …, down_proj; BLOOM's query_key_value, dense, …), in model order.
    /// </summary>
    public static IReadOnlyList<string> TargetableModules(Checkpoint checkpoint) =>
        [.. checkpoint.Tensors.Where(t => t.Shape.Length == 2).Select(t => BlockWeight().Match(t.Name))
            .Where(m => m.Success).Select(m => m.Groups["module"].Value).Distinct()];

    /// <summary>
    /// A rank-<paramref name="rank"/> adapter over every weight whose module is one of <paramref name="targets"/>
    /// ("all" for every targetable module); a target the model lacks is refused, naming the valid ones.
    /// </summary>
    public static LoraAdapter Create(Checkpoint checkpoint, IReadOnlyList<string> targets, int rank, float alpha, ulong seed, bool useRsLora = false)
    {
        if (rank <= 0) throw new AgoraException($"the LoRA rank {rank} must be positive");
        if (!float.IsFinite(alpha) || alpha <= 0) throw new AgoraException($"lora_alpha {alpha} must be positive");
        var valid = TargetableModules(checkpoint);
        var chosen = targets.Count == 1 && targets[0] == "all" ? valid : targets;
        if (chosen.Count == 0) throw new AgoraException("no LoRA target modules were given");
        foreach (var t in chosen)
            if (!valid.Contains(t))
                throw new AgoraException($"the model ({checkpoint.Config.Architecture}) has no '{t}' modules to adapt; valid targets: {string.Join(", ", valid)} (or all)");
        var random = new Xoshiro256(seed);
        var weights = new List<LoraWeight>();
        foreach (var tensor in checkpoint.Tensors)
        {
            var match = BlockWeight().Match(tensor.Name);
            if (tensor.Shape.Length != 2 || !match.Success || !chosen.Contains(match.Groups["module"].Value)) continue;
            int outFeatures = checked((int)tensor.Shape[0]), inFeatures = checked((int)tensor.Shape[1]);
            var a = new float[checked(rank * inFeatures)];
            double bound = 1 / Math.Sqrt(inFeatures);
            for (int i = 0; i < a.Length; i++) a[i] = (float)((2 * random.NextDouble() - 1) * bound);
            weights.Add(new LoraWeight(tensor.Name, a, new float[checked(outFeatures * rank)], rank, inFeatures, outFeatures, alpha));
        }
        return new LoraAdapter(weights, rank, alpha, useRsLora)
        {
            TargetModules = [.. chosen],
            BaseModel = checkpoint.Path,
        };
    }
}
