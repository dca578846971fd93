using System.Globalization;
using System.Text.RegularExpressions;

namespace ModelBuild.Serving;

/// <summary>The batching settings of a generated deploy/triton/&lt;model&gt;/config.pbtxt.</summary>
public sealed record BatchingConfig(int? MaxBatchSize, int? MaxQueueDelayMicroseconds, int? Instances);

/// <summary>
/// Reads the few scalar fields the server honours from the Triton config ModelBuild wrote. A regex is enough: the
/// file is our own output, and a field it cannot find simply falls back to a default.
/// </summary>
public static partial class TritonConfigReader
{
    public static BatchingConfig Read(string directory, string model)
    {
        // An output folder holds the repository under deploy/triton; the server image serves the repository itself.
        var path = Path.Combine(directory, "deploy", "triton", model, "config.pbtxt");
        if (!File.Exists(path)) path = Path.Combine(directory, model, "config.pbtxt");
        if (!File.Exists(path)) return new BatchingConfig(null, null, null);
        var text = File.ReadAllText(path);
        return new BatchingConfig(Int(MaxBatch().Match(text)), Int(QueueDelay().Match(text)), Int(Count().Match(text)));
    }

    private static int? Int(Match m) =>
        m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;

    [GeneratedRegex(@"^\s*max_batch_size\s*:\s*(\d+)", RegexOptions.Multiline)]
    private static partial Regex MaxBatch();

    [GeneratedRegex(@"max_queue_delay_microseconds\s*:\s*(\d+)")]
    private static partial Regex QueueDelay();

    [GeneratedRegex(@"instance_group[\s\S]*?count\s*:\s*(\d+)")]
    private static partial Regex Count();
}
