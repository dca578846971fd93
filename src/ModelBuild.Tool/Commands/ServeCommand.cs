using System.CommandLine;
using System.Net.Sockets;
using ModelBuild.Diagnostics;
using ModelBuild.Serving;

namespace ModelBuild.Tool.Commands;

/// <summary><c>modelbuild serve DIR</c>: the KServe v2 HTTP server over an output folder's deployed models.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo>("dir") { Description = "A ModelBuild output folder (modelbuild build --out DIR, or an app's " +
            "bin folder)." }.RefusingOptions();
        var port = new Option<int>("--port") { Description = "HTTP port (0 = any free port).", DefaultValueFactory = _ => 8000 };
        var host = new Option<string>("--host") { Description = "Address to bind; 0.0.0.0 to accept other machines.",
            DefaultValueFactory = _ => "127.0.0.1" };
        var models = new Option<string[]>("--model") { Description = "Serve only this model (repeatable).", AllowMultipleArgumentsPerToken = false };
        var maxBody = new Option<int>("--max-request-mb") { Description = "Largest request body in MB (bigger ones get 413).",
            DefaultValueFactory = _ => 16 };
        var labels = new Option<string?>("--labels") { Description = "/predict class names: a file with one per line, or a comma-separated list." };
        var shutdownDelay = new Option<double>("--shutdown-delay") { Description = "Seconds between readiness turning false (Ctrl+C, SIGTERM) and " +
            "the listener closing, so load balancers stop sending first.", DefaultValueFactory = _ => 0 };
        var shared = new ServeOptionsArguments();
        var command = new Command("serve", "Serve the deployed models of an output folder over the KServe v2 HTTP protocol (Triton's).")
        {
            dir, port, host, models, maxBody, labels, shutdownDelay,
        };
        shared.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            if (parse.GetValue(maxBody) <= 0 || parse.GetValue(shutdownDelay) is < 0 or > 3600 or double.NaN)
            {
                CommandRunner.Report(Diagnostic.Error(DiagnosticCodes.InvalidValue, "--max-request-mb must be positive, " +
                    "--shutdown-delay 0 to 3600 seconds"));
                return (int)ExitCode.BadInput;
            }
            var options = shared.Apply(parse, new ServerOptions
            {
                Directory = parse.GetValue(dir)!.FullName,
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                Models = parse.GetValue(models) ?? [],
                MaxRequestBodyBytes = parse.GetValue(maxBody) * 1024L * 1024L,
                Labels = ServeOptionsArguments.ReadLabels(parse.GetValue(labels)),
                ConsoleLogging = true,
                ShutdownDelay = TimeSpan.FromSeconds(parse.GetValue(shutdownDelay)),
            });
            ModelServer server;
            try
            {
                server = await ModelServer.StartAsync(options, cancellation);
            }
            catch (Exception e) when (e is IOException or SocketException or ArgumentException or InvalidOperationException
                                         or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or UnauthorizedAccessException)
            {
                var code = e switch
                {
                    // A folder that is missing or holds no (such) deployed model.
                    DirectoryNotFoundException or InvalidOperationException => DiagnosticCodes.FileNotFound,
                    // A port in use, a bad --host or --port.
                    IOException or SocketException or ArgumentException => DiagnosticCodes.InvalidValue,
                    _ => DiagnosticCodes.ModelUnreadable,
                };
                CommandRunner.Report(Diagnostic.Error(code, $"cannot serve: {e.Message}"));
                return (int)ExitCode.BadInput;
            }
            await using (server)
            {
                foreach (var m in server.Models.All)
                    Console.WriteLine($"model {m.Name} ({m.Model.Variant ?? "model.onnx"}): " +
                        (m.Batcher is { } b ? $"dynamic batching up to {b.MaxBatchSize}, {b.MaxQueueDelayMicroseconds} µs, " +
                            $"{b.Workers} instance(s)" : "no batching"));
                Console.WriteLine($"serving on {server.Address} (KServe v2: {server.Address}v2, metrics: {server.Address}metrics); Ctrl+C stops");
                await server.WaitForShutdownAsync(cancellation);
                Console.WriteLine("stopping: finishing in-flight requests");
            }
            return (int)ExitCode.Success;
        });
        return command;
    }
}
