using System.CommandLine;
using System.Globalization;
using Agora.Formats.Checkpoint;
using Agora.Tokenization;

namespace Agora.Cli.Commands;

/// <summary><c>agora inspect FILE_OR_DIR</c>: architecture, hyper-parameters, tokenizer and a table of tensors.</summary>
public static class InspectCommand
{
    public static Command Create(Terminal terminal)
    {
        var path = new Argument<string>("FILE_OR_DIR") { Description = "A GGUF file or a Hugging Face folder" };
        var command = new Command("inspect", "Show what a checkpoint holds: architecture, hyper-parameters, tokenizer, tensors") { path };
        command.SetAction(AgoraCli.Guarded(terminal, parse =>
        {
            using var checkpoint = Checkpoint.Open(parse.GetValue(path)!);
            Print(checkpoint, terminal.Out);
            return 0;
        }));
        return command;
    }

    static void Print(Checkpoint checkpoint, TextWriter o)
    {
        o.WriteLine($"file:          {checkpoint.Path}");
        o.WriteLine(checkpoint.Gguf is { } gguf
            ? $"format:        GGUF v{gguf.Version}, {gguf.Metadata.Count} metadata keys, alignment {gguf.Alignment}"
            : "format:        Hugging Face folder (safetensors)");

        // An inspector must still show what it can of a file whose architecture or tokenizer Agora cannot run.
        try
        {
            PrintConfig(checkpoint.Config, o);
        }
        catch (AgoraException e)
        {
            o.WriteLine($"architecture:  not supported ({e.Message})");
        }
        try
        {
            PrintTokenizer(TokenizerSource.Load(checkpoint), o);
        }
        catch (AgoraException e)
        {
            o.WriteLine($"tokenizer:     none usable ({e.Message})");
        }
        PrintTensors(checkpoint, o);
    }

    static void PrintConfig(ModelConfig c, TextWriter o)
    {
        o.WriteLine($"architecture:  {c.Architecture.ToString().ToLowerInvariant()}");
        o.WriteLine($"  layers {c.LayerCount}, hidden {c.HiddenSize}, FFN {c.IntermediateSize}, heads {c.HeadCount} (KV {c.KvHeadCount}), head dim {c.HeadDim}");
        o.WriteLine($"  vocab {c.VocabSize}, context {c.ContextLength}, norm eps {Num(c.NormEpsilon)}, tied embeddings {YesNo(c.TieWordEmbeddings)}");
        if (!c.UsesAlibi)
        {
            string scaling = c.RopeScaling is { } s ? $", scaling {s.Kind.ToString().ToLowerInvariant()} x{Num(s.Factor)}" : "";
            o.WriteLine($"  rope theta {Num(c.RopeTheta)}, rope dims {c.RopeDimensions}{scaling}");
        }
        else
        {
            o.WriteLine("  positions: ALiBi");
        }
    }

    static void PrintTokenizer(ITokenizer t, TextWriter o)
    {
        o.WriteLine($"tokenizer:     {t.Description}, {t.VocabSize} tokens");
        o.WriteLine($"  BOS {Id(t, t.BosId)}, EOS {Id(t, t.EosId)}, EOT {Id(t, t.EotId)}, PAD {Id(t, t.PadId)}; adds BOS {YesNo(t.AddBos)}, adds EOS {YesNo(t.AddEos)}");
    }

    static void PrintTensors(Checkpoint checkpoint, TextWriter o)
    {
        var tensors = checkpoint.Tensors;
        long total = tensors.Sum(t => t.ByteSize);
        o.WriteLine($"tensors:       {tensors.Count}, {FormatBytes(total)} (shapes in PyTorch order, rows first)");
        if (tensors.Count == 0) return;
        int nameWidth = Math.Max(4, tensors.Max(t => t.SourceName.Length));
        var shapes = tensors.Select(t => "[" + string.Join(", ", t.Shape) + "]").ToArray();
        int shapeWidth = Math.Max(5, shapes.Max(s => s.Length));
        o.WriteLine($"  {"name".PadRight(nameWidth)}  {"type",-7}  {"shape".PadRight(shapeWidth)}  {"bytes",12}");
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            o.WriteLine($"  {t.SourceName.PadRight(nameWidth)}  {t.Type,-7}  {shapes[i].PadRight(shapeWidth)}  {t.ByteSize,12}");
        }
    }

    static string Id(ITokenizer t, int? id) => id is { } v ? $"{v} {Quote(t.TokenText(v))}" : "-";
    static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s, CliJson.Options);
    static string YesNo(bool b) => b ? "yes" : "no";
    static string Num(float v) => v.ToString("G7", CultureInfo.InvariantCulture);

    static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes} B",
    };
}
