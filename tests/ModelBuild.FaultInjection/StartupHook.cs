using System.Runtime.InteropServices;
using System.Text;

/// <summary>
/// Loaded by the .NET host before Main when DOTNET_STARTUP_HOOKS names this assembly (the host requires this exact
/// type name, outside any namespace). MODELBUILD_TEST_FAULT says what to do when the tool announces a step
/// (<c>modelbuild: step started: …</c>, printed with --step-starts, which the MSBuild task passes):
/// <c>crash:&lt;step&gt;</c> kills the process as a native crash in libtorch or ONNX Runtime would (no managed
/// unwinding, no MB line); <c>delay:&lt;step&gt;:&lt;ms&gt;</c> holds the step until the time passes or the process
/// gets SIGINT/SIGTERM, so a test can interrupt a run in the middle. &lt;step&gt; matches any step name containing it.
/// Every other .NET process the variable reaches (dotnet build, MSBuild nodes) is left alone.
/// </summary>
internal static class StartupHook
{
    private const string Variable = "MODELBUILD_TEST_FAULT";
    private const string StepStarted = "modelbuild: step started: ";
    private const string HeldMarker = "MODELBUILD_TEST_FAULT_HELD";

    // Held for the life of the process: a collected registration unregisters itself.
    private static readonly List<PosixSignalRegistration> Registrations = [];

    public static void Initialize()
    {
        var fault = Environment.GetEnvironmentVariable(Variable);
        var entry = Environment.GetCommandLineArgs().FirstOrDefault() ?? "";
        if (string.IsNullOrEmpty(fault) || !Path.GetFileNameWithoutExtension(entry).Equals("modelbuild", StringComparison.OrdinalIgnoreCase))
            return;
        var parts = fault.Split(':');
        if (parts.Length < 2) return;
        Console.SetOut(TextWriter.Synchronized(new FaultingWriter(Console.Out, line =>
        {
            if (!line.StartsWith(StepStarted, StringComparison.Ordinal) || !line.Contains(parts[1], StringComparison.Ordinal)) return null;
            if (parts[0] == "crash")
                return () => Environment.FailFast($"{Variable}: simulated native crash in step '{line[StepStarted.Length..]}'");
            if (parts[0] == "delay" && parts.Length == 3 && int.TryParse(parts[2], out var ms))
                return Hold(ms);
            return null;
        })));
    }

    // Registered at the held step, after the tool's own handler: the runtime calls the newest registration first, so
    // this one ends the hold before the tool's handler waits for the command to finish (registered at startup, or at a
    // step the tool announces before System.CommandLine has registered its handler, it would be called after that
    // wait, and the two would wait on each other). Registered before the step's line is written, and announced by the
    // file MODELBUILD_TEST_FAULT_HELD names: a test signals only once the hold can be ended.
    private static Action Hold(int ms)
    {
        var interrupted = new ManualResetEventSlim();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
            Registrations.Add(PosixSignalRegistration.Create(signal, _ => interrupted.Set()));
        if (Environment.GetEnvironmentVariable(HeldMarker) is { Length: > 0 } marker) File.WriteAllText(marker, "held\n");
        return () => interrupted.Wait(ms);
    }

    /// <summary>
    /// Passes everything through. Each whole line goes to <paramref name="prepare"/> before it is written; what that
    /// returns runs once the line is out.
    /// </summary>
    private sealed class FaultingWriter(TextWriter inner, Func<string, Action?> prepare) : TextWriter
    {
        public override Encoding Encoding => inner.Encoding;

        public override void Write(char value) => inner.Write(value);

        public override void Write(string? value) => inner.Write(value);

        public override void WriteLine(string? value)
        {
            var then = value is null ? null : prepare(value);
            inner.WriteLine(value);
            inner.Flush();
            then?.Invoke();
        }

        public override void Flush() => inner.Flush();
    }
}
