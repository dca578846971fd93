using System.Reflection;
using NuGet.Versioning;

namespace ModelBuild;

/// <summary>The version of this ModelBuild, checked against a manifest's <c>requires</c> range and written to reports.</summary>
public static class ToolInfo
{
    public static NuGetVersion Version { get; } = ReadVersion();

    private static NuGetVersion ReadVersion()
    {
        var informational = typeof(ToolInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        // The SDK appends "+<commit>" to the informational version; build metadata does not take part in ranges.
        return NuGetVersion.Parse(informational.Split('+')[0]);
    }
}
