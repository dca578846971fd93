using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using ModelBuild.Diagnostics;

namespace ModelBuild.Fuzz;

public sealed record Finding(string Target, string Kind, string Signature, string Detail, string? SavedAs);

public sealed record FuzzResult(string Target, long Executions, int CorpusSize, TimeSpan Elapsed, IReadOnlyList<Finding> Findings);

/// <summary>
/// Mutational fuzzing without coverage feedback: mutate a corpus entry, run the reader, and keep the input in the
/// corpus when it produced an outcome not seen before (a new diagnostic shape or success), a cheap stand-in for
/// new coverage. A finding is any exception other than <see cref="ModelBuildException"/>, or an input that runs
/// longer than the per-input limit (a hang).
/// </summary>
public static partial class Fuzzer
{
    private const int MaxCorpus = 4000;

    public static FuzzResult Run(FuzzTarget target, TimeSpan duration, int seed, string? findingsDir, TimeSpan perInputLimit, TextWriter? log = null)
    {
        var seeds = target.Seeds();
        if (seeds.Count == 0) throw new InvalidOperationException($"target {target.Name} has no seeds");
        var corpus = new List<byte[]>(seeds);
        var outcomes = new HashSet<string>(StringComparer.Ordinal);
        var findings = new Dictionary<string, Finding>(StringComparer.Ordinal);
        var random = new Random(seed);
        var work = Directory.CreateTempSubdirectory($"modelbuild-fuzz-{target.Name}-").FullName;
        var watch = Stopwatch.StartNew();
        long executions = 0;

        // A hang can't be caught in-process: the watchdog saves the input and ends the process.
        byte[]? current = null;
        long currentStart = 0;
        using var done = new CancellationTokenSource();
        var watchdog = new Thread(() =>
        {
            while (!done.Token.WaitHandle.WaitOne(500))
            {
                var started = Interlocked.Read(ref currentStart);
                if (started != 0 && Stopwatch.GetElapsedTime(started) > perInputLimit && Volatile.Read(ref current) is { } input)
                {
                    var saved = Save(findingsDir, target.Name, "hang", input, $"input ran longer than {perInputLimit}");
                    Console.Error.WriteLine($"FINDING {target.Name}: hang (> {perInputLimit}); input saved to {saved}");
                    Environment.Exit(3);
                }
            }
        }) { IsBackground = true, Name = "fuzz watchdog" };
        watchdog.Start();

        try
        {
            // Every seed first, unmutated: they must read (or fail cleanly) too.
            var queue = new Queue<byte[]>(seeds);
            while (watch.Elapsed < duration)
            {
                var input = queue.Count > 0 ? queue.Dequeue() : target.Mutate(corpus[random.Next(corpus.Count)], random, corpus);
                Volatile.Write(ref current, input);
                Interlocked.Exchange(ref currentStart, Stopwatch.GetTimestamp());
                string outcome;
                try
                {
                    target.Run(input, work);
                    outcome = "ok";
                }
                catch (ModelBuildException e)
                {
                    outcome = e.Diagnostic.Code + " " + Shape(e.Message);
                }
                catch (Exception e)
                {
                    var signature = $"{e.GetType().Name} at {FirstOwnFrame(e)}";
                    outcome = "finding " + signature;
                    if (!findings.ContainsKey(signature))
                    {
                        var saved = Save(findingsDir, target.Name, "crash", input, e.ToString());
                        findings[signature] = new Finding(target.Name, "crash", signature, e.ToString(), saved);
                        log?.WriteLine($"FINDING {target.Name}: {signature}{(saved is null ? "" : $" (saved to {saved})")}");
                    }
                }
                finally
                {
                    Interlocked.Exchange(ref currentStart, 0);
                    executions++;
                }
                if (outcomes.Add(outcome) && corpus.Count < MaxCorpus && input.Length <= 1 << 20) corpus.Add(input);
            }
        }
        finally
        {
            done.Cancel();
            try { Directory.Delete(work, recursive: true); }
            catch (IOException) { }
        }
        return new FuzzResult(target.Name, executions, corpus.Count, watch.Elapsed, findings.Values.ToList());
    }

    /// <summary>A message with its numbers, quoted names and paths blanked: the kind of failure, not the instance.</summary>
    private static string Shape(string message)
    {
        var shape = Numbers().Replace(Quoted().Replace(message, "'_'"), "#");
        return shape.Length > 80 ? shape[..80] : shape;
    }

    private static string FirstOwnFrame(Exception e)
    {
        var frames = (e.StackTrace ?? "").Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("at ", StringComparison.Ordinal)).ToList();
        var own = frames.FirstOrDefault(f => f.Contains("ModelBuild.", StringComparison.Ordinal) && !f.Contains("ModelBuild.Fuzz", StringComparison.Ordinal)) ?? frames.FirstOrDefault() ?? "?";
        var paren = own.IndexOf('(');
        return paren > 0 ? own[3..paren] : own[3..];
    }

    private static string? Save(string? dir, string target, string kind, byte[] input, string detail)
    {
        if (dir is null) return null;
        Directory.CreateDirectory(dir);
        var name = $"{target}-{kind}-{Convert.ToHexStringLower(SHA256.HashData(input))[..12]}";
        File.WriteAllBytes(Path.Combine(dir, name + ".bin"), input);
        File.WriteAllText(Path.Combine(dir, name + ".txt"), detail, Encoding.UTF8);
        return Path.Combine(dir, name + ".bin");
    }

    [GeneratedRegex(@"\d+")]
    private static partial Regex Numbers();

    [GeneratedRegex(@"'[^']*'")]
    private static partial Regex Quoted();
}
