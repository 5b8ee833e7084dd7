using System.Diagnostics;
using Agora.Tensors;

namespace Agora.Bench;

/// <summary>`synth SHAPE TYPE OUT`: writes a synthetic model with a real model's shape (see <see cref="SyntheticModel"/>).</summary>
static class SynthCommand
{
    public static int Run(string[] args)
    {
        if (args.Length != 3 || !Enum.TryParse<GgmlType>(args[1], ignoreCase: true, out var type) || type is not (GgmlType.F32 or GgmlType.F16))
        {
            Console.Error.WriteLine("usage: synth smollm2-135m|llama-3.2-1b|memory-1gb F32|F16 OUT.gguf");
            return 2;
        }
        SyntheticShape shape;
        try { shape = SyntheticShape.Named(args[0]); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        var sw = Stopwatch.StartNew();
        SyntheticModel.Write(args[2], shape, type);
        Console.WriteLine($"{args[2]}: {shape.Name} {type}, {new FileInfo(args[2]).Length / 1e6:F0} MB in {sw.Elapsed.TotalSeconds:F1} s");
        return 0;
    }
}
