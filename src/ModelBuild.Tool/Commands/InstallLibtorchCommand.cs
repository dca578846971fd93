using System.CommandLine;
using System.Diagnostics;
using ModelBuild.Diagnostics;
using ModelBuild.Tool.Torch;

namespace ModelBuild.Tool.Commands;

/// <summary>
/// <c>modelbuild install-libtorch</c>: restores the TorchSharp and libtorch packages this tool was built against
/// into the NuGet packages folder, where the tool finds them (the command-line counterpart of referencing
/// ModelBuild.Torch in a project). NuGet does the work: feeds, credentials and the packages folder follow the
/// user's NuGet configuration.
/// </summary>
internal static class InstallLibtorchCommand
{
    public static Command Create()
    {
        var source = new Option<string[]>("--source", "-s") { Description = "A NuGet feed to restore from (repeatable); default: the NuGet " +
            "configuration of the current folder." };
        var command = new Command("install-libtorch",
            $"Restore {LibtorchPackages.TorchSharpId} {LibtorchPackages.TorchSharpVersion} " +
            $"and {LibtorchPackages.LibTorchId} {LibtorchPackages.LibTorchVersion} " +
            "(TorchScript and TorchSharp sources, export.torchscript, fine-tuning; Linux x64) into the NuGet packages folder.") { source };
        command.SetAction(parse => CommandRunner.Run(() =>
        {
            if (LibtorchPackages.Find(LibtorchPackages.DefaultFolders()) is { } found)
            {
                Console.Out.WriteLine($"modelbuild: libtorch is already installed ({Path.GetDirectoryName(found.TorchSharpAssembly)}, " +
                    $"{found.NativeDirectories[^1]})");
                return ExitCode.Success;
            }
            var work = Directory.CreateTempSubdirectory("modelbuild-libtorch-").FullName;
            try
            {
                var project = Path.Combine(work, "libtorch.csproj");
                // PackageDownload: exactly these versions, no assets into any project.
                File.WriteAllText(project, $"""
                    <Project Sdk="Microsoft.NET.Sdk">
                      <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
                      <ItemGroup>
                        <PackageDownload Include="{LibtorchPackages.TorchSharpId}" Version="[{LibtorchPackages.TorchSharpVersion}]" />
                        <PackageDownload Include="{LibtorchPackages.LibTorchId}" Version="[{LibtorchPackages.LibTorchVersion}]" />
                      </ItemGroup>
                    </Project>
                    """);
                var start = new ProcessStartInfo(DotnetHost()) { UseShellExecute = false };
                foreach (var a in new[] { "restore", project, "-nologo" }) start.ArgumentList.Add(a);
                // The user's nuget.config is found from the current folder, not from the temporary project's.
                if (NearestNuGetConfig(Environment.CurrentDirectory) is { } config)
                {
                    start.ArgumentList.Add("--configfile");
                    start.ArgumentList.Add(config);
                }
                foreach (var s in parse.GetValue(source) ?? []) { start.ArgumentList.Add("--source"); start.ArgumentList.Add(s); }
                using var restore = Process.Start(start) ?? throw new InvalidOperationException("dotnet could not be started");
                restore.WaitForExit();
                if (restore.ExitCode != 0 || LibtorchPackages.Find(LibtorchPackages.DefaultFolders()) is null)
                    throw new ModelBuildException(DiagnosticCodes.TorchRuntimeUnavailable,
                        $"restoring {LibtorchPackages.TorchSharpId} and {LibtorchPackages.LibTorchId} " +
                        $"failed (dotnet restore exit {restore.ExitCode}); " +
                        "see NuGet's messages above, or name a feed that serves them with --source");
                Console.Out.WriteLine("modelbuild: libtorch installed");
                return ExitCode.Success;
            }
            finally
            {
                try { Directory.Delete(work, recursive: true); } catch (IOException) { }
            }
        }));
        return command;
    }

    // A tool installed with `dotnet tool install` starts through its own launcher, so the host is found, not assumed.
    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return "dotnet";
    }

    private static string? NearestNuGetConfig(string directory)
    {
        for (var dir = new DirectoryInfo(directory); dir is not null; dir = dir.Parent)
        {
            var config = dir.EnumerateFiles().FirstOrDefault(f => f.Name.Equals("nuget.config", StringComparison.OrdinalIgnoreCase));
            if (config is not null) return config.FullName;
        }
        return null;
    }
}
