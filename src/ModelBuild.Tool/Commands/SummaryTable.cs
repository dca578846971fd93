using System.Globalization;
using ModelBuild.Results;

namespace ModelBuild.Tool.Commands;

/// <summary>The one summary table a build prints: every artifact with its size, parity, score and latency.</summary>
internal static class SummaryTable
{
    public static void Print(BuildReport report, TextWriter o, string outDir)
    {
        foreach (var model in report.Models)
        {
            o.WriteLine($"modelbuild: {model.Name} (deployed: {model.Deployed})");
            o.WriteLine($"  {"artifact",-16} {"size MB",9} {"parity",10} {"score",8} {"p50 ms",8} {"p95 ms",8}  checks");
            foreach (var a in model.Artifacts)
            {
                var failed = a.Checks.Count(c => !c.Passed);
                var checks = a.Checks.Count == 0 ? "-" : failed == 0 ? $"{a.Checks.Count} passed" : $"{failed} of {a.Checks.Count} failed";
                o.WriteLine($"  {a.Name,-16} {F(a.SizeMb),9} {F(a.ParityMaxAbs),10} {F(a.Score),8} {F(a.Latency?.P50Ms),8} " +
                    $"{F(a.Latency?.P95Ms),8}  {checks}");
            }
        }
        o.WriteLine($"modelbuild: {(report.Passed ? "all checks passed" : "checks FAILED")}; artifacts in {outDir}");
    }

    private static string F(double? v) => v is null ? "-" :
        Math.Abs(v.Value) is > 0 and < 1e-3
            ? v.Value.ToString("0.0e+0", CultureInfo.InvariantCulture)
            : v.Value.ToString("0.###", CultureInfo.InvariantCulture);
}
