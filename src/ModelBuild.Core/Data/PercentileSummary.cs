namespace ModelBuild.Data;

/// <summary>The percentiles reports show for latency: median, p95 and p99 (see <see cref="Percentiles"/>).</summary>
public readonly record struct PercentileSummary(double P50, double P95, double P99);
