using System.Diagnostics;
using ModelBuild.Data;
using ModelBuild.Onnx;

namespace ModelBuild.Targets.Tflite;

/// <summary>A TFLite runtime that could not run a file: runtimes differ in the operators they read (Arm NN 22 has no
/// PADV2, MIRROR_PAD, GELU, BATCH_MATMUL, and no tensors over 4-D), so this is a warning, not a verdict on the file.</summary>
public sealed class TfliteRuntimeException(string message) : Exception(message);

/// <summary>
/// An independent TFLite runtime, outside this process, that runs a written file so it can be judged like its ONNX
/// parent. No TFLite runtime exists for .NET, and our own reader would only agree with our own writer; so the build
/// runs the command named by <see cref="EnvironmentVariable"/> when it is set, and says "not checked" otherwise.
/// <para>Protocol: <c>COMMAND model.tflite inputs.npz outputs.npz</c>. inputs.npz holds each signature input, the
/// samples stacked on a leading axis, already in the file's layout and element type; the command runs them one at a
/// time and writes each signature output the same way, and prints <c>runtime: NAME</c> on its standard output.</para>
/// </summary>
public sealed class TfliteRuntime
{
    public const string EnvironmentVariable = "MODELBUILD_TFLITE_RUNTIME";
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(20);

    private readonly string _command;

    private TfliteRuntime(string command) => _command = command;

    /// <summary>The runtime's own name, as it printed it (e.g. "ArmNN 20.08 CpuRef"); set by <see cref="Run"/>.</summary>
    public string Name { get; private set; } = "";

    public static TfliteRuntime? FromEnvironment() =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } command ? new TfliteRuntime(command) : null;

    /// <summary>Runs the file on ONNX-layout float inputs; returns ONNX-layout float outputs.</summary>
    /// <exception cref="TfliteRuntimeException">The runtime could not run the file (an op it lacks, a crash).</exception>
    public IReadOnlyDictionary<string, NdArray> Run(TfliteExport export, IReadOnlyDictionary<string, NdArray> inputs)
    {
        var folder = Directory.CreateTempSubdirectory("modelbuild-tflite-run-").FullName;
        try
        {
            var inputPath = Path.Combine(folder, "inputs.npz");
            var outputPath = Path.Combine(folder, "outputs.npz");
            NpzWriter.Write(inputPath, export.Inputs.Select(i => KeyValuePair.Create(i.Name, ToFile(i, inputs[i.Name]))));
            var (stdout, stderr, exitCode) = Execute(export.Path, inputPath, outputPath);
            if (exitCode != 0 || !File.Exists(outputPath))
                throw new TfliteRuntimeException($"'{_command}' ({EnvironmentVariable}) could not run it (exit code {exitCode}): " +
                                                 Tail(stderr.Length > 0 ? stderr : stdout));
            Name = stdout.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("runtime:", StringComparison.Ordinal))?[8..].Trim()
                ?? _command;
            var outputs = NpzReader.ReadAll(outputPath);
            return export.Outputs.ToDictionary(o => o.Name,
                o => outputs.TryGetValue(o.Name, out var v) ? FromFile(o, v)
                    : throw new TfliteRuntimeException($"'{_command}' ({EnvironmentVariable}) wrote no output '{o.Name}'"),
                StringComparer.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private (string Stdout, string Stderr, int ExitCode) Execute(params string[] arguments)
    {
        var parts = _command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var start = new ProcessStartInfo(parts[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var p in parts.Skip(1).Concat(arguments)) start.ArgumentList.Add(p);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            return ("", $"timed out after {Timeout.TotalMinutes} minutes", -1);
        }
        return (stdout.Result, stderr.Result, process.ExitCode);
    }

    private static string Tail(string text)
    {
        var lines = text.Trim().Split('\n');
        return string.Join(" | ", lines.Skip(Math.Max(0, lines.Length - 3))).Trim();
    }

    /// <summary>Samples [n, ONNX axes…] → [n, file axes…], quantized for an int8 input.</summary>
    private static NdArray ToFile(TfliteIoTensor io, NdArray samples)
    {
        var floats = samples.ToDoubles().Select(d => (float)d).ToArray();
        var (data, shape) = TfliteConverter.Permute(floats, samples.Shape, io.Perm);
        if (io.Type == TfliteType.Int8 && io.Quantization is { } q)
            return new NdArray(TensorElementType.Int8, shape,
                data.Select(v => (sbyte)Math.Clamp(Math.Round(v / q.Scale[0] + q.ZeroPoint[0]), -128, 127)).ToArray());
        return io.Type switch
        {
            TfliteType.Float32 => new NdArray(TensorElementType.Float32, shape, data),
            TfliteType.Int32 => new NdArray(TensorElementType.Int32, shape, data.Select(v => (int)v).ToArray()),
            TfliteType.Int64 => new NdArray(TensorElementType.Int64, shape, data.Select(v => (long)v).ToArray()),
            _ => throw new NotSupportedException($"TFLite input type {io.Type}"),
        };
    }

    /// <summary>[n, file axes…] → float [n, ONNX axes…], dequantized for an int8 output.</summary>
    private static NdArray FromFile(TfliteIoTensor io, NdArray samples)
    {
        var values = samples.ToDoubles();
        if (io.Type == TfliteType.Int8 && io.Quantization is { } q)
            values = values.Select(v => (v - q.ZeroPoint[0]) * q.Scale[0]).ToArray();
        var inverse = new int[io.Perm.Length];
        for (var i = 0; i < io.Perm.Length; i++) inverse[io.Perm[i]] = i;
        var (data, shape) = TfliteConverter.Permute(values.Select(v => (float)v).ToArray(), samples.Shape, inverse);
        return new NdArray(TensorElementType.Float32, shape, data);
    }
}
