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
return await root.Parse(args).InvokeAsync();
