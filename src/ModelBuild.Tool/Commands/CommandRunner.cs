using ModelBuild.Diagnostics;

namespace ModelBuild.Tool.Commands;

/// <summary>Turns what a command throws into canonical diagnostics on stderr and a contract exit code.</summary>
internal static class CommandRunner
{
    public static int Run(Func<ExitCode> body)
    {
        try
        {
            return (int)body();
        }
        catch (ModelBuildException e)
        {
            Report(e.Diagnostic);
            return (int)e.Diagnostic.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Report(Diagnostic.Error(DiagnosticCodes.Cancelled, "cancelled"));
            return (int)ExitCode.InternalError;
        }
        catch (Exception e)
        {
            Report(Diagnostic.Error(DiagnosticCodes.Internal, $"internal error: {e.GetType().Name}: {e.Message}"));
            Console.Error.WriteLine(e);
            return (int)ExitCode.InternalError;
        }
    }

    public static void Report(Diagnostic diagnostic) => Console.Error.WriteLine(diagnostic.ToString());
}
