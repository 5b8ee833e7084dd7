namespace Agora.Models;

/// <summary>
/// The row order a model takes for weights that the checkpoint stores in another order than Hugging Face's
/// (llama.cpp's LLaMA Q/K pairs and BLOOM fused-QKV groups; see <see cref="Formats.Checkpoint.StoredRowOrder"/>).
/// </summary>
public enum WeightRowOrder
{
    /// <summary>
    /// Hugging Face's: those tensors are copied into it. Training needs it, since its passes and the adapters it
    /// updates follow Hugging Face's layout.
    /// </summary>
    HuggingFace,
    /// <summary>
    /// The checkpoint's, read in place (no copy): the forward pass computes the same outputs from them (pairwise
    /// rope on paired Q/K rows, a grouped QKV split), adapters' B rows are moved to match.
    /// </summary>
    AsStored,
}
