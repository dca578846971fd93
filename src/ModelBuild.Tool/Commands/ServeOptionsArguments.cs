using System.CommandLine;
using System.Globalization;
using ModelBuild.Serving;

namespace ModelBuild.Tool.Commands;

/// <summary>The batching and session options <c>serve</c> and <c>bench-serve</c> share.</summary>
internal sealed class ServeOptionsArguments
{
    public Option<int?> MaxBatchSize { get; } = new("--max-batch-size") { Description = "Largest dynamic batch (default: the model's Triton " +
        "max_batch_size, else 8; 1 turns batching off)." };
    public Option<int?> MaxQueueDelay { get; } = new("--max-queue-delay-us") { Description = "Longest a batch waits for requests being received " +
        "(default: the Triton config's max_queue_delay_microseconds, else 100)." };
    public Option<int?> Instances { get; } = new("--instances") { Description = "Model runs at once per model (default: the Triton instance_group " +
        "count, else cores / --threads). With batching, instances past the first run only while a full batch waits." };
    public Option<int> Threads { get; } = new("--threads") { Description = "ONNX Runtime intra-op threads per model.", DefaultValueFactory = _ => 1 };

    public void AddTo(Command command)
    {
        command.Options.Add(MaxBatchSize);
        command.Options.Add(MaxQueueDelay);
        command.Options.Add(Instances);
        command.Options.Add(Threads);
    }

    public ServerOptions Apply(ParseResult parse, ServerOptions options) => options with
    {
        MaxBatchSize = parse.GetValue(MaxBatchSize),
        MaxQueueDelayMicroseconds = parse.GetValue(MaxQueueDelay),
        Instances = parse.GetValue(Instances),
        IntraOpThreads = parse.GetValue(Threads),
    };

    /// <summary>--labels: a file with one class name per line, or a comma-separated list.</summary>
    public static IReadOnlyList<string> ReadLabels(string? value) =>
        value is null or "" ? Array.Empty<string>()
        : File.Exists(value) ? File.ReadAllLines(value).Select(l => l.Trim()).Where(l => l.Length > 0).ToList()
        : value.Split(',').Select(l => l.Trim()).ToList();

    public static string Float(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
