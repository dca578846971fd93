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

    public static string FaultInjection { get; } = typeof(RepoPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .First(a => a.Key == "FaultInjection").Value!;

    /// <summary>
    /// The environment that makes the tool crash (<c>crash:STEP</c>) or stall (<c>delay:STEP:MS</c>) when it starts a
    /// step: the startup hook in ModelBuild.FaultInjection, which no shipped assembly contains.
    /// </summary>
    /// <param name="heldMarker">A file the hook writes once a <c>delay</c> hold is armed: signal the tool only after it exists.</param>
    public static Dictionary<string, string> Fault(string fault, string? heldMarker = null) => new()
    {
        ["DOTNET_STARTUP_HOOKS"] = FaultInjection,
        ["MODELBUILD_TEST_FAULT"] = fault,
        ["MODELBUILD_TEST_FAULT_HELD"] = heldMarker ?? "",
    };

    public static string Asset(string name) => Path.Combine(AppContext.BaseDirectory, "assets", name);
}
