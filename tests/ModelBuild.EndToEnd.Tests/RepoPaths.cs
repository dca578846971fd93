using System.Reflection;

namespace ModelBuild.EndToEnd.Tests;

public static class RepoPaths
{
    public static string Root { get; } = typeof(RepoPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .First(a => a.Key == "RepoRoot").Value!;

    public static string ToolAssembly { get; } = typeof(RepoPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .First(a => a.Key == "ToolAssembly").Value!;

    public static string TorchSharpFixtures { get; } = typeof(RepoPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .First(a => a.Key == "TorchSharpFixtures").Value!;

    public static string Asset(string name) => Path.Combine(AppContext.BaseDirectory, "assets", name);
}
