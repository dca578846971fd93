using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace ModelBuild.Core.Tests.Targets;

/// <summary>
/// Runs protoc from the Grpc.Tools package (its folder comes from the build as assembly metadata
/// <c>GrpcToolsDir</c>; the PROTOC environment variable overrides) against the test's Triton schema.
/// </summary>
internal static class Protoc
{
    public const string MessageType = "inference.ModelConfig";

    private static readonly Lazy<string> LazyPath = new(Locate);

    public static string Path => LazyPath.Value;

    /// <summary>The folder holding model_config.proto (copied to the output with its Targets/ folder).</summary>
    public static string SchemaDir => System.IO.Path.Combine(AppContext.BaseDirectory, "Targets");

    public sealed record Result(int ExitCode, byte[] Stdout, string Stderr);

    /// <summary>Parses <paramref name="text"/> as a text-format ModelConfig and encodes it to wire format.</summary>
    public static Result Encode(string text) => Run($"--encode={MessageType}", System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>Decodes wire-format bytes back to protoc's canonical text format.</summary>
    public static string Decode(byte[] wire)
    {
        var r = Run($"--decode={MessageType}", wire);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return System.Text.Encoding.UTF8.GetString(r.Stdout);
    }

    private static Result Run(string mode, byte[] stdin)
    {
        var psi = new ProcessStartInfo(Path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(mode);
        psi.ArgumentList.Add("--proto_path=" + SchemaDir);
        psi.ArgumentList.Add("model_config.proto");

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("protoc did not start");
        var stderr = p.StandardError.ReadToEndAsync();
        using var stdout = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(stdout);
        try
        {
            p.StandardInput.BaseStream.Write(stdin);
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // protoc quit before reading its input (e.g. a schema error); its exit code and stderr tell why.
        }
        if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            p.Kill();
            throw new TimeoutException("protoc did not finish in 60 s");
        }
        copy.Wait();
        return new Result(p.ExitCode, stdout.ToArray(), stderr.Result);
    }

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable("PROTOC") is { Length: > 0 } fromEnv) return fromEnv;

        var toolsDir = typeof(Protoc).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == "GrpcToolsDir")?.Value;
        Assert.False(string.IsNullOrEmpty(toolsDir), "GrpcToolsDir metadata is missing: is Grpc.Tools referenced with GeneratePathProperty?");

        var os = OperatingSystem.IsWindows() ? "windows" : OperatingSystem.IsMacOS() ? "macosx" : "linux";
        var arch = os == "macosx" ? "universal" : RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "x64",
            Architecture.X86 => "x86",
            Architecture.Arm64 => "arm64",
            var other => throw new PlatformNotSupportedException($"Grpc.Tools ships no protoc for {other}"),
        };
        var path = System.IO.Path.Combine(toolsDir!, "tools", $"{os}_{arch}", OperatingSystem.IsWindows() ? "protoc.exe" : "protoc");
        Assert.True(File.Exists(path), $"protoc not found at {path}");
        return OperatingSystem.IsWindows() ? path : EnsureExecutable(path);
    }

    // NuGet extraction does not always keep the execute bit; fix it in place, or use a private copy.
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static string EnsureExecutable(string path)
    {
        const UnixFileMode exec = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        var mode = File.GetUnixFileMode(path);
        if ((mode & UnixFileMode.UserExecute) != 0) return path;
        try
        {
            File.SetUnixFileMode(path, mode | exec);
            return path;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            var copy = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"modelbuild-protoc-{Environment.ProcessId}");
            File.Copy(path, copy, overwrite: true);
            File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return copy;
        }
    }
}
