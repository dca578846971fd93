using ModelBuild.TorchScript.Conversion.Syntax;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>Finds classes and functions by qualified name in the archive's code/ files, parsing each file once.</summary>
public sealed class CodeBase(IReadOnlyDictionary<string, string> files)
{
    private readonly Dictionary<string, CodeFile?> _parsed = new(StringComparer.Ordinal);

    /// <summary>"__torch__.torch.nn.modules.conv.Conv2d" → class Conv2d in __torch__/torch/nn/modules/conv.py.</summary>
    public ClassDef? FindClass(string qualifiedName) => Split(qualifiedName) is var (file, name) && file?.Classes.GetValueOrDefault(name) is { } c
        ? c
        : null;

    public FunctionDef? FindFunction(string qualifiedName) => Split(qualifiedName) is var (file, name)
        ? file?.Functions.GetValueOrDefault(name) : null;

    private (CodeFile? File, string Name) Split(string qualifiedName)
    {
        var dot = qualifiedName.LastIndexOf('.');
        if (dot < 0) return (null, qualifiedName);
        return (File(qualifiedName[..dot].Replace('.', '/') + ".py"), qualifiedName[(dot + 1)..]);
    }

    private CodeFile? File(string path)
    {
        if (_parsed.TryGetValue(path, out var f)) return f;
        f = files.TryGetValue(path, out var source) ? Parser.ParseFile(source, path) : null;
        _parsed[path] = f;
        return f;
    }
}
