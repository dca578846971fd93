using System.Reflection;
using System.Runtime.Loader;

namespace ModelBuild.Tool.Torch;

/// <summary>
/// ModelBuild.Torch (from the tool's torch/ folder) and TorchSharp (from the NuGet packages folder), loaded on
/// demand. Everything else, ModelBuild.Core above all, comes from the tool itself so both sides share its types.
/// </summary>
internal sealed class TorchLoadContext(string pluginDirectory, string torchSharpAssembly) : AssemblyLoadContext("modelbuild-torch")
{
    protected override Assembly? Load(AssemblyName name)
    {
        if (name.Name == "TorchSharp") return LoadFromAssemblyPath(torchSharpAssembly);
        var local = Path.Combine(pluginDirectory, name.Name + ".dll");
        return File.Exists(local) ? LoadFromAssemblyPath(local) : null;
    }
}
