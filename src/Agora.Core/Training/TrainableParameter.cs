namespace Agora.Training;

/// <summary>
/// One trained tensor: its values (shared with the model or adapter that uses them, so an update takes effect at
/// once) and its gradient, both row-major float32 of the same length.
/// </summary>
public sealed class TrainableParameter
{
    /// <summary>
    /// Hugging Face's name: <c>model.layers.0.self_attn.q_proj.lora_A.weight</c> for a LoRA matrix (PEFT's
    /// saved spelling, without the <c>base_model.model.</c> prefix), the weight's own name when fully fine-tuned.
    /// </summary>
    public string Name { get; }
    public float[] Value { get; }
    public float[] Gradient { get; }
    /// <summary>PyTorch order: [rows, columns] for matrices, [length] for vectors.</summary>
    public int[] Shape { get; }

    internal TrainableParameter(string name, float[] value, params int[] shape)
    {
        Name = name;
        Value = value;
        Gradient = new float[value.Length];
        Shape = shape;
    }

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}
