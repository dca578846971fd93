using System.CommandLine;
using ModelBuild.Onnx;

namespace ModelBuild.Tool.Commands;

/// <summary><c>modelbuild inspect MODEL</c>: a model's interface, opsets, op counts and size.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<FileInfo>("model") { Description = "An .onnx file, or a TorchScript .pt/.pth archive." }.RefusingOptions();
        var command = new Command("inspect", "Show a model's inputs, outputs, opsets, op counts and size.") { model };
        command.SetAction(parse => CommandRunner.Run(() =>
        {
            var file = parse.GetValue(model)!.FullName;
            if (file.EndsWith(".pt", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".pth", StringComparison.OrdinalIgnoreCase))
                return PrintTorchScript(TorchScript.TorchScriptSummary.Of(file));
            var summary = ModelSummary.Of(file);
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

    /// <summary>A TorchScript archive as the reader sees it; no code from the archive runs.</summary>
    private static Diagnostics.ExitCode PrintTorchScript(TorchScript.TorchScriptSummary summary)
    {
        var o = Console.Out;
        o.WriteLine($"model:      {summary.Path} (TorchScript, format {summary.FormatVersion})");
        o.WriteLine($"size:       {summary.SizeBytes:N0} bytes ({summary.SizeBytes / 1048576.0:F2} MB)");
        o.WriteLine($"root:       {summary.RootType}");
        if (summary.ForwardSignature is { } signature) o.WriteLine($"forward:    ({signature})");
        o.WriteLine($"parameters: {summary.ParameterCount:N0} values in tensors ({summary.TensorBytes:N0} bytes)");
        o.WriteLine("modules:");
        foreach (var (path, type) in summary.Modules) o.WriteLine($"  {path,-28} {type}");
        o.WriteLine("ops:");
        foreach (var (op, count) in summary.OpCalls) o.WriteLine($"  {op,-28} {count}");
        return Diagnostics.ExitCode.Success;
    }
}
