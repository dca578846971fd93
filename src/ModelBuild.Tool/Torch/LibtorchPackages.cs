using System.Reflection;

namespace ModelBuild.Tool.Torch;

/// <summary>
/// TorchSharp and libtorch as NuGet restores them (the ModelBuild.Torch package, or <c>modelbuild install-libtorch</c>),
/// at exactly the versions this tool was built against. They are not in the tool's deps.json: a tool that only
/// ever sees ONNX models never needs them on disk.
/// </summary>
internal sealed record LibtorchPackages(string TorchSharpAssembly, IReadOnlyList<string> NativeDirectories)
{
    public const string TorchSharpId = "TorchSharp";
    public const string LibTorchId = "libtorch-cpu-linux-x64";

    public static string TorchSharpVersion { get; } = Metadata("TorchSharpVersion");
    public static string LibTorchVersion { get; } = Metadata("LibTorchVersion");

    /// <summary>
    /// Package folders in the order the tool looks: those the host was given (<c>--additionalprobingpath</c>, which
    /// the MSBuild task sets to the project's NuGet folder), then NuGet's global packages folder.
    /// </summary>
    public static IReadOnlyList<string> DefaultFolders()
    {
        var folders = new List<string>();
        if (AppContext.GetData("PROBING_DIRECTORIES") is string probing)
            folders.AddRange(probing.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        // NuGet's global packages folder: NUGET_PACKAGES replaces the default, it does not add to it.
        if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages)
            folders.Add(packages);
        else if (Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) is { Length: > 0 } home)
            folders.Add(Path.Combine(home, ".nuget", "packages"));
        return folders.Distinct().ToList();
    }

    /// <summary>The first folder holding each package, or null when either is missing (or only partly extracted).</summary>
    public static LibtorchPackages? Find(IEnumerable<string> folders)
    {
        string? managed = null, bridge = null, libtorch = null;
        foreach (var folder in folders)
        {
            var torchSharp = Path.Combine(folder, TorchSharpId.ToLowerInvariant(), TorchSharpVersion);
            var candidate = Path.Combine(torchSharp, "lib", "net8.0", "TorchSharp.dll");
            var native = Path.Combine(torchSharp, "runtimes", "linux-x64", "native");
            if (managed is null && File.Exists(candidate) && File.Exists(Path.Combine(native, "libLibTorchSharp.so")))
                (managed, bridge) = (candidate, native);
            var cpu = Path.Combine(folder, LibTorchId, LibTorchVersion, "runtimes", "linux-x64", "native");
            if (libtorch is null && File.Exists(Path.Combine(cpu, "libtorch_cpu.so")))
                libtorch = cpu;
        }
        return managed is null || libtorch is null ? null : new LibtorchPackages(managed, [bridge!, libtorch]);
    }

    private static string Metadata(string key) =>
        typeof(LibtorchPackages).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"the tool was built without the {key} metadata");
}
