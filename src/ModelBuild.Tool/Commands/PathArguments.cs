using System.CommandLine;

namespace ModelBuild.Tool.Commands;

/// <summary>Rules shared by the file and folder arguments of every command.</summary>
internal static class PathArguments
{
    /// <summary>
    /// A path argument would otherwise swallow a mistyped option (`build --bogus` looked for a manifest named
    /// "--bogus"); refusing values that look like options makes that a usage error. A file whose name does start
    /// with '-' is still reachable as ./-name.
    /// </summary>
    public static T RefusingOptions<T>(this T argument) where T : Argument
    {
        argument.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (token.Value.Length > 1 && token.Value[0] == '-')
                    result.AddError($"Unrecognized option '{token.Value}' (a file whose name starts with '-' can be given as ./{token.Value}).");
        });
        return argument;
    }
}
