using System.Text.RegularExpressions;
using ModelBuild.Diagnostics;

namespace ModelBuild.TorchScript;

/// <summary>
/// What <c>modelbuild inspect</c> shows for a TorchScript archive, read safely (nothing runs): the module tree,
/// parameter counts, the forward signature and the op calls in the saved code.
/// </summary>
public sealed partial record TorchScriptSummary(
    string Path,
    long SizeBytes,
    int FormatVersion,
    string RootType,
    string? ForwardSignature,
    IReadOnlyList<(string Path, string Type)> Modules,
    long ParameterCount,
    long TensorBytes,
    IReadOnlyDictionary<string, int> OpCalls)
{
    public static TorchScriptSummary Of(string path)
    {
        var archive = TorchScriptReader.Read(path, new SourceLocation(path));
        var modules = new List<(string, string)>();
        long parameters = 0, bytes = 0;
        Walk(archive.Root, "model", modules, ref parameters, ref bytes);

        var rootFile = archive.CodeFiles
            .FirstOrDefault(f => f.Value.Contains($"class {ShortName(archive.Root.TypeName)}(", StringComparison.Ordinal)).Value;
        var signature = rootFile is null ? null : ForwardPattern().Match(rootFile) is { Success: true } m
            ? Regex.Replace(m.Groups[1].Value, @"\s+", " ").Trim() : null;
        var ops = archive.CodeFiles.Values
            .SelectMany(code => OpPattern().Matches(code).Select(x => x.Groups[1].Value))
            .GroupBy(op => op, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return new TorchScriptSummary(path, new FileInfo(path).Length, archive.FormatVersion, archive.Root.TypeName,
            signature, modules, parameters, bytes, ops);
    }

    private static void Walk(ScriptObject module, string path, List<(string, string)> modules, ref long parameters, ref long bytes)
    {
        modules.Add((path, module.TypeName));
        foreach (var (name, value) in module.Attributes)
        {
            switch (value)
            {
                case ScriptObject child:
                    Walk(child, $"{path}.{name}", modules, ref parameters, ref bytes);
                    break;
                case TorchTensor tensor:
                    parameters += tensor.Values.Length;
                    bytes += tensor.Values.Length
                        * System.Runtime.InteropServices.Marshal.SizeOf(ModelBuild.Data.NdArray.ClrType(tensor.ElementType));
                    break;
            }
        }
    }

    private static string ShortName(string typeName) => typeName[(typeName.LastIndexOf('.') + 1)..];

    [GeneratedRegex(@"def forward\((.*?)\)\s*(->\s*[^:]+)?:", RegexOptions.Singleline)]
    private static partial Regex ForwardPattern();

    [GeneratedRegex(@"\b(torch\.[A-Za-z_][A-Za-z0-9_]*|ops\.[A-Za-z_][A-Za-z0-9_.]*)\(")]
    private static partial Regex OpPattern();
}
