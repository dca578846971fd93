using ModelBuild.IO;
using ModelBuild.Diagnostics;

namespace ModelBuild.Passes;

/// <summary>
/// Runs a variant's planned passes one after another, from its parent's file to its own, through temporary files
/// that are removed whatever happens. The pipeline and <c>modelbuild bench</c> both build variants this way.
/// </summary>
public static class PassChain
{
    public static PassOutcome Run(IReadOnlyList<IModelPass> passes, string input, string output, string model, string variant,
        CancellationToken cancellation, IBuildLog? log = null)
    {
        var outcome = new PassOutcome();
        var temps = new List<string>();
        try
        {
            foreach (var (pass, index) in passes.Select((p, i) => (p, i)))
            {
                cancellation.ThrowIfCancellationRequested();
                var target = index == passes.Count - 1 ? output : AtomicFile.TempPathFor(output);
                if (target != output) temps.Add(target);
                pass.Run(new PassContext(input, target, model, variant, cancellation)
                {
                    Outcome = outcome,
                    Log = log ?? new NullBuildLog(),
                });
                input = target;
            }
        }
        finally
        {
            foreach (var t in temps) File.Delete(t);
        }
        return outcome;
    }
}
