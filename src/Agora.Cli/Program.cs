using System.Text;
using Agora.Cli;

Console.OutputEncoding = new UTF8Encoding(false);
Console.InputEncoding = new UTF8Encoding(false);
return AgoraCli.Run(args, new Terminal(Console.In, Console.Out, Console.Error, !Console.IsInputRedirected && !Console.IsOutputRedirected,
    !Console.IsErrorRedirected));
