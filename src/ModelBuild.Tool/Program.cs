using System.CommandLine;
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
};
// Ctrl-C / SIGTERM cancel the running command; it gets this long to discard its staging folder and report MB9002
// before the process exits anyway (exit 130/143). A build checks for cancellation at every step.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(20) };
return await root.Parse(args).InvokeAsync(invocation);
