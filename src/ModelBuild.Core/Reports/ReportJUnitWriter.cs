using System.Globalization;
using System.Xml.Linq;
using ModelBuild.Results;

namespace ModelBuild.Reports;

/// <summary>
/// modelbuild-report.junit.xml for CI test tabs: one testsuite per model, one testcase per artifact × check.
/// A failed error-severity check is a failure (message + yaml location); a failed warning-severity check passes
/// with the warning in system-out. Errors not tied to a check (e.g. MB3007) go to a "modelbuild" suite.
/// </summary>
public static class ReportJUnitWriter
{
    public static string Write(BuildReport report)
    {
        var suites = new List<XElement>();
        foreach (var model in report.Models)
        {
            var cases = new List<XElement>();
            foreach (var artifact in model.Artifacts)
                foreach (var check in artifact.Checks)
                    cases.Add(Case(check, $"{artifact.Name}: {check.Check}", $"modelbuild.{model.Name}.{artifact.Name}"));
            suites.Add(Suite(model.Name, cases));
        }
        var checkCodes = report.Models.SelectMany(m => m.Artifacts).SelectMany(a => a.Checks).Select(c => c.Message)
            .ToHashSet(StringComparer.Ordinal);
        var other = report.Diagnostics
            .Where(d => d.Severity == "error" && !checkCodes.Any(m => d.Message.EndsWith(m, StringComparison.Ordinal)))
            .Select(d => new XElement("testcase", new XAttribute("name", d.Code), new XAttribute("classname", "modelbuild"),
                new XElement("failure", new XAttribute("message", d.Message), new XAttribute("type", d.Code),
                    $"{(d.Location is null ? "" : d.Location + ": ")}error {d.Code}: {d.Message}")))
            .ToList();
        if (other.Count > 0) suites.Add(Suite("modelbuild", other));

        var root = new XElement("testsuites",
            new XAttribute("name", "modelbuild"),
            new XAttribute("tests", suites.Sum(s => (int)s.Attribute("tests")!)),
            new XAttribute("failures", suites.Sum(s => (int)s.Attribute("failures")!)),
            new XAttribute("errors", 0),
            suites);
        return new XDocument(new XDeclaration("1.0", "utf-8", null), root).Declaration + "\n" + root.ToString().Replace("\r\n", "\n") + "\n";
    }

    private static XElement Suite(string name, List<XElement> cases) =>
        new("testsuite",
            new XAttribute("name", name),
            new XAttribute("tests", cases.Count),
            new XAttribute("failures", cases.Count(c => c.Element("failure") is not null)),
            new XAttribute("errors", 0),
            new XAttribute("skipped", 0),
            cases);

    private static XElement Case(CheckReport check, string name, string className)
    {
        var element = new XElement("testcase", new XAttribute("name", name), new XAttribute("classname", className));
        var detail = $"{(check.Location is null ? "" : check.Location + ": ")}{check.Code}: {check.Message} " +
                     $"(threshold {check.Check} {check.Comparison} {F(check.Threshold)}, measured {F(check.Measured)})";
        if (!check.Passed && check.Severity == "error")
            element.Add(new XElement("failure", new XAttribute("message", check.Message), new XAttribute("type", check.Code), detail));
        else if (!check.Passed)
            element.Add(new XElement("system-out", "warning " + detail));
        return element;
    }

    private static string F(double? v) => v is null ? "none" : v.Value.ToString("R", CultureInfo.InvariantCulture);
}
