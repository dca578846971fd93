using Microsoft.Build.Framework;

namespace ModelBuild.Tasks;

/// <summary>
/// Logs again the warnings the last run of the tool reported, when a build skips the tool because nothing changed:
/// warnings stay visible on every build until fixed, and -warnaserror keeps failing, without rerunning the models.
/// The lines are the tool's own canonical <c>deploy.yaml(line,col): warning MBnnnn: …</c>, parsed like its output.
/// </summary>
public sealed class ModelBuildReplayWarnings : Microsoft.Build.Utilities.Task
{
    /// <summary>The file <see cref="ModelBuildTask.WarningsFile"/> wrote.</summary>
    [Required]
    public string File { get; set; } = "";

    public override bool Execute()
    {
        if (!System.IO.File.Exists(File)) return true;
        foreach (var line in System.IO.File.ReadAllLines(File))
            if (line.Length > 0) Log.LogMessageFromText(line, MessageImportance.High);
        return !Log.HasLoggedErrors;
    }
}
