using System.Text.Json;
using System.Text.Json.Serialization;
using ModelBuild.Results;

namespace ModelBuild.Reports;

/// <summary>modelbuild-report.json: snake_case keys, stable property order, '\n' line ends.</summary>
public static class ReportJsonWriter
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Write(BuildReport report) =>
        JsonSerializer.Serialize(report, Options).Replace("\r\n", "\n") + "\n";
}
