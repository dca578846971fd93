using System.CommandLine;
using ModelBuild.Onnx;

namespace ModelBuild.Tool.Commands;

/// <summary><c>modelbuild inspect MODEL</c>: a model's interface, opsets, op counts and size.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<FileInfo>("model") { Description = "An .onnx file." };
        var command = new Command("inspect", "Show a model's inputs, outputs, opsets, op counts and size.") { model };
        command.SetAction(parse => CommandRunner.Run(() =>
        {
            var summary = ModelSummary.Of(parse.GetValue(model)!.FullName);
            var o = Console.Out;
            o.WriteLine($"model:      {summary.Path}");
            o.WriteLine($"size:       {summary.SizeBytes:N0} bytes ({summary.SizeBytes / 1048576.0:F2} MB)");
            o.WriteLine($"ir_version: {summary.IrVersion}");
            if (summary.Producer.Length > 0) o.WriteLine($"producer:   {summary.Producer}");
            o.WriteLine($"opsets:     {string.Join(", ", summary.Opsets.Select(kv => $"{kv.Key} {kv.Value}"))}");
            o.WriteLine($"parameters: {summary.ParameterCount:N0}");
            o.WriteLine("inputs:");
            foreach (var t in summary.Interface.Inputs) o.WriteLine($"  {t}");
            o.WriteLine("outputs:");
            foreach (var t in summary.Interface.Outputs) o.WriteLine($"  {t}");
            o.WriteLine("ops:");
            foreach (var (op, count) in summary.OpCounts) o.WriteLine($"  {op,-28} {count}");
            return Diagnostics.ExitCode.Success;
        }));
        return command;
    }
}
