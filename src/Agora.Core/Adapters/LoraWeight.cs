namespace Agora.Adapters;

/// <summary>
/// The LoRA pair of one linear weight: A [Rank, In] and B [Out, Rank], row-major float32 in Hugging Face row order,
/// with the alpha that scales it. The arrays are the adapter's own (training updates them in place).
/// </summary>
public sealed class LoraWeight
{
    /// <summary>The Hugging Face name of the weight it changes (<c>model.layers.0.self_attn.q_proj.weight</c>).</summary>
    public string Name { get; }
    public float[] A { get; }
    public float[] B { get; }
    public int Rank { get; }
    public int In { get; }
    public int Out { get; }
    /// <summary>lora_alpha for this weight (PEFT's <c>alpha_pattern</c> may give weights different alphas).</summary>
    public float Alpha { get; }

    public LoraWeight(string name, float[] a, float[] b, int rank, int inFeatures, int outFeatures, float alpha)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!name.EndsWith(".weight", StringComparison.Ordinal))
            throw new ArgumentException($"'{name}' is not a weight name (it must end in '.weight')", nameof(name));
        if (rank <= 0 || inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"'{name}': rank {rank}, in {inFeatures} and out {outFeatures} must be positive");
        if (a.Length != (long)rank * inFeatures) throw new ArgumentException($"'{name}': A holds {a.Length} values, not rank {rank} × in {inFeatures}");
        if (b.Length != (long)outFeatures * rank) throw new ArgumentException($"'{name}': B holds {b.Length} values, not out {outFeatures} × rank {rank}");
        if (!float.IsFinite(alpha)) throw new ArgumentException($"'{name}': alpha {alpha} is not finite", nameof(alpha));
        Name = name;
        A = a;
        B = b;
        Rank = rank;
        In = inFeatures;
        Out = outFeatures;
        Alpha = alpha;
    }

    /// <summary>The module the weight belongs to (<c>model.layers.0.self_attn.q_proj</c>), as PEFT and its patterns name it.</summary>
    public string Module => Name[..^".weight".Length];

    public override string ToString() => $"{Name} rank {Rank} [{Out}, {In}] alpha {Alpha}";
}
