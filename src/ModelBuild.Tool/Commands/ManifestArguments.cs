using System.CommandLine;

namespace ModelBuild.Tool.Commands;

/// <summary>The manifest argument shared by build and check: zero or more files, default ./deploy.yaml.</summary>
internal static class ManifestArguments
{
    public const string DefaultManifest = "deploy.yaml";

    public static Argument<string[]> Create() => new Argument<string[]>("manifest")
    {
        Description = "deploy.yaml files (default: ./deploy.yaml). Several manifests build into one output folder.",
        Arity = ArgumentArity.ZeroOrMore,
    }.RefusingOptions();

    public static IReadOnlyList<string> Resolve(string[]? given) =>
        given is { Length: > 0 } ? given.Select(Path.GetFullPath).ToList() : new[] { Path.GetFullPath(DefaultManifest) };
}
