namespace ModelBuild.Pipeline;

/// <summary>
/// Fault injection for ModelBuild's own robustness tests, off unless MODELBUILD_TEST_HOOK is set:
/// <c>crash:&lt;step&gt;</c> kills the process the way a native crash in libtorch or ONNX Runtime would (no
/// managed unwinding, no MB line); <c>delay:&lt;step&gt;:&lt;ms&gt;</c> stalls a step (cancellably) so a test can
/// interrupt a run in the middle. &lt;step&gt; matches any step name containing it.
/// </summary>
internal static class TestHooks
{
    public const string Variable = "MODELBUILD_TEST_HOOK";

    public static void AtStepStart(string step, CancellationToken cancellation)
    {
        var hook = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(hook)) return;
        var parts = hook.Split(':');
        if (parts.Length < 2 || !step.Contains(parts[1], StringComparison.Ordinal)) return;
        switch (parts[0])
        {
            case "crash":
                Environment.FailFast($"{Variable}: simulated native crash in step '{step}'");
                break;
            case "delay" when parts.Length == 3 && int.TryParse(parts[2], out var ms):
                cancellation.WaitHandle.WaitOne(ms);
                cancellation.ThrowIfCancellationRequested();
                break;
        }
    }
}
