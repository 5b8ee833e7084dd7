using System.Text.Encodings.Web;
using System.Text.Json;

namespace Agora.Cli;

static class CliJson
{
    /// <summary>Compact JSON that keeps non-ASCII text readable (token strings, prompts).</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
    };
}
