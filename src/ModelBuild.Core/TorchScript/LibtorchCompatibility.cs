using ModelBuild.Diagnostics;

namespace ModelBuild.TorchScript;

/// <summary>
/// Ops that older PyTorch versions saved into archives but that the libtorch we run (2.10, for the reference
/// outputs) no longer has. libtorch compiles an archive's code lazily and aborts the whole process on an unknown
/// op, so such archives are refused before libtorch sees them, naming the op and the remedy.
/// </summary>
public static class LibtorchCompatibility
{
    private static readonly (string Op, string Remedy)[] Removed =
    [
        ("torch._scaled_dot_product_attention",
            "PyTorch 1.13's private attention op, removed in 2.0; re-save the model with PyTorch 2.x, " +
            "where F.scaled_dot_product_attention is supported"),
    ];

    public static void Check(TorchScriptArchive archive, SourceLocation? location)
    {
        foreach (var (file, code) in archive.CodeFiles)
            foreach (var (op, remedy) in Removed)
            {
                var at = code.IndexOf(op + "(", StringComparison.Ordinal);
                if (at < 0) continue;
                var line = code.AsSpan(0, at).Count('\n') + 1;
                throw new ModelBuildException(DiagnosticCodes.UnsupportedTorchScript,
                    $"'{archive.Path}' calls {op} (code/{file}, line {line}), which libtorch 2.10 cannot run: {remedy}", location);
            }
    }
}
