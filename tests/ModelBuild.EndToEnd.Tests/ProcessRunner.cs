using System.Diagnostics;
using System.Text;

namespace ModelBuild.EndToEnd.Tests;

public sealed record ProcessResult(int ExitCode, string Output)
{
    public override string ToString() => $"exit {ExitCode}\n{Output}";
}

/// <summary>Runs dotnet commands the way a user's shell would: a clean MSBuild environment, no node reuse.</summary>
public static class ProcessRunner
{
    public static ProcessResult Dotnet(string workingDirectory, params string[] args) => Run("dotnet", workingDirectory, args);

    public static ProcessResult Run(string fileName, string workingDirectory, params string[] args) =>
        Run(fileName, workingDirectory, TimeSpan.FromMinutes(10), null, args);

    public static ProcessResult Run(string fileName, string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var process = Start(fileName, workingDirectory, environment, args, out var output);
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish in {timeout}:\n{output}");
        }
        process.WaitForExit();
        lock (output) return new ProcessResult(process.ExitCode, output.ToString());
    }

    /// <summary>Starts a process whose stdout and stderr collect, as they arrive, in <paramref name="output"/> (lock it to read).</summary>
    public static Process Start(string fileName, string workingDirectory, IReadOnlyDictionary<string, string>? environment, string[] args, out StringBuilder output)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        // The test host runs under MSBuild-related variables that would steer the child build; a user's shell has none.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";

        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;

        var process = Process.Start(start)!;
        var collected = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (collected) collected.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (collected) collected.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        output = collected;
        return process;
    }
}
