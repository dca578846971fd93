namespace ModelBuild.Tool.Torch;

/// <summary>Whether this run may use libtorch, where it looks for it, and what to tell the user when it is missing.</summary>
/// <param name="Enabled">False when the MSBuild project does not reference ModelBuild.Torch: the tool then never uses
/// a libtorch it happens to find, so a build that passes on a developer's machine passes on a clean CI agent too.</param>
internal sealed record TorchSettings(bool Enabled, IReadOnlyList<string> PackageFolders, string Remedy)
{
    /// <summary>A shell user: any package folder that has the packages; the remedy is one command.</summary>
    public static TorchSettings ForCommandLine() => new(true, LibtorchPackages.DefaultFolders(),
        $"Run 'modelbuild install-libtorch' once: it restores {LibtorchPackages.TorchSharpId} {LibtorchPackages.TorchSharpVersion} and " +
        $"{LibtorchPackages.LibTorchId} {LibtorchPackages.LibTorchVersion} into the NuGet packages folder.");

    /// <summary>A dotnet build: libtorch only when the project references ModelBuild.Torch; the remedy is that line.</summary>
    public static TorchSettings ForProject(string project, bool referencesTorchPackage) =>
        new(referencesTorchPackage, LibtorchPackages.DefaultFolders(),
            referencesTorchPackage
                ? $"Restore {Path.GetFileName(project)} again (dotnet restore): its ModelBuild.Torch reference brings them."
                : $"Add <PackageReference Include=\"ModelBuild.Torch\" Version=\"{ToolInfo.Version.ToNormalizedString()}\" /> " +
                  $"to {Path.GetFileName(project)} " +
                  "(it restores TorchSharp and libtorch for the build; the app itself references neither).");
}
