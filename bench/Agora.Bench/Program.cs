using Agora.Bench;
using BenchmarkDotNet.Running;

if (args.Length > 0 && args[0] == "tokenize")
    return TokenizeQuick.Run(args.Skip(1).ToArray());
if (args.Length > 0 && args[0] == "memory")
    return MemoryBench.Run(args.Skip(1).ToArray());
if (args.Length > 0 && args[0] == "train")
    return TrainBench.Run(args.Skip(1).ToArray());
if (args.Length > 0 && args[0] == "products")
    return ProductsBench.Run(args.Skip(1).ToArray());
if (args.Length > 0 && args[0] == "synth")
    return SynthCommand.Run(args.Skip(1).ToArray());
BenchmarkSwitcher.FromAssembly(typeof(TokenizeQuick).Assembly).Run(args);
return 0;
