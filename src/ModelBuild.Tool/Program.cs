using System.CommandLine;
using System.CommandLine.Invocation;
using ModelBuild.Tool.Commands;

// Exit codes (contract v1): 0 success, 1 a check failed, 2 bad input, 3 internal error.
var root = new RootCommand("ModelBuild: deploy.yaml in, validated and deployable model artifacts out.")
{
    BuildCommand.Create(),
    CheckCommand.Create(),
    InspectCommand.Create(),
    ServeCommand.Create(),
    BenchServeCommand.Create(),
    BenchCommand.Create(),
    InstallLibtorchCommand.Create(),
};
// Ctrl-C / SIGTERM cancel the running command; it gets this long to discard its staging folder and report MB9002
// before the process exits anyway (exit 130/143). A build checks for cancellation at every step.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(20) };
var parsed = root.Parse(args);
// Misuse of the command line is bad input (exit 2); System.CommandLine's own error action would exit 1, which the
// contract keeps for failed checks.
if (parsed.Action is ParseErrorAction)
{
    foreach (var error in parsed.Errors)
        Console.Error.WriteLine($"modelbuild: error: {error.Message}");
    var usage = parsed.CommandResult.Command is RootCommand ? "modelbuild --help" : $"modelbuild {parsed.CommandResult.Command.Name} --help";
    Console.Error.WriteLine($"Run '{usage}' for usage.");
    return (int)ModelBuild.Diagnostics.ExitCode.BadInput;
}
return await parsed.InvokeAsync(invocation);
