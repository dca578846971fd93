using System.CommandLine;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;

namespace ModelBuild.Tool.Commands;

/// <summary><c>modelbuild check [deploy.yaml]</c>: validate manifests only; no model is loaded.</summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var manifests = ManifestArguments.Create();
        var command = new Command("check", "Validate deploy.yaml (keys, types, names, files, version range) without touching models.") { manifests };
        command.SetAction(parse => CommandRunner.Run(() =>
        {
            var diagnostics = new DiagnosticBag();
            diagnostics.Reported += CommandRunner.Report;
            var paths = ManifestArguments.Resolve(parse.GetValue(manifests));
            // The same loading and cross-manifest validation as build, so check passes only what build accepts.
            var loaded = ManifestSet.Load(paths, diagnostics, ToolInfo.Version);
            if (loaded is not null && !diagnostics.HasErrors)
                Console.Out.WriteLine($"modelbuild: {string.Join(", ", paths.Select(Path.GetFileName))} OK " +
                    $"({loaded.Sum(m => m.Models.Count)} model(s))");
            return diagnostics.ExitCode;
        }));
        return command;
    }
}
