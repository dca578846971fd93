using System.Globalization;
using ModelBuild.Fuzz;

// modelbuild-fuzz [--target manifest|onnx|torchscript|npy|npz|all] [--seconds N (per target)] [--seed S]
//                 [--findings DIR] [--input-limit-seconds N] [--replay FILE]
// Exit 0: no findings; 1: findings (saved under --findings); 3: a hang (saved, then the process ends).
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i += 2) options[args[i].TrimStart('-')] = args[i + 1];
var names = options.GetValueOrDefault("target", "all");
var seconds = double.Parse(options.GetValueOrDefault("seconds", "10"), CultureInfo.InvariantCulture);
var seed = int.Parse(options.GetValueOrDefault("seed", Environment.TickCount.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
var findingsDir = Path.GetFullPath(options.GetValueOrDefault("findings", "fuzz-findings"));
var inputLimit = TimeSpan.FromSeconds(double.Parse(options.GetValueOrDefault("input-limit-seconds", "20"), CultureInfo.InvariantCulture));

var targets = names == "all" ? FuzzTargets.All : FuzzTargets.All.Where(t => names.Split(',').Contains(t.Name)).ToList();
if (targets.Count == 0)
{
    Console.Error.WriteLine($"unknown target '{names}'; targets: {string.Join(", ", FuzzTargets.All.Select(t => t.Name))}, all");
    return 2;
}

if (options.TryGetValue("replay", out var replay))
{
    // Reproduce a saved finding: run the file through each chosen target once and show what escapes.
    var input = File.ReadAllBytes(replay);
    var work = Directory.CreateTempSubdirectory("modelbuild-fuzz-replay-").FullName;
    foreach (var target in targets)
    {
        try { target.Run(input, work); Console.WriteLine($"{target.Name}: ok"); }
        catch (ModelBuild.Diagnostics.ModelBuildException e) { Console.WriteLine($"{target.Name}: {e.Diagnostic}"); }
        catch (Exception e) { Console.WriteLine($"{target.Name}: FINDING {e}"); }
    }
    return 0;
}

Console.WriteLine($"seed {seed}, {seconds} s per target, findings to {findingsDir}");
var total = 0;
foreach (var target in targets)
{
    var result = Fuzzer.Run(target, TimeSpan.FromSeconds(seconds), seed, findingsDir, inputLimit, Console.Out);
    Console.WriteLine($"{result.Target,-12} {result.Executions,9} execs  {result.Executions / result.Elapsed.TotalSeconds,8:F0}/s  corpus {result.CorpusSize,5}  findings {result.Findings.Count}");
    foreach (var f in result.Findings) Console.WriteLine($"  {f.Signature}\n    {f.Detail.Split('\n')[0]}");
    total += result.Findings.Count;
}
return total == 0 ? 0 : 1;
