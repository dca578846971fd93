using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.TorchScript;
using static TorchSharp.torch;

namespace ModelBuild.Torch;

/// <summary>Outcome of <see cref="TorchScriptResaver.Resave"/>.</summary>
/// <param name="Path">The written model.pt.</param>
/// <param name="SizeBytes">Its size.</param>
/// <param name="MaxAbsDifference">Largest |original − reloaded| over all verification outputs.</param>
public sealed record TorchScriptResaveResult(string Path, long SizeBytes, double MaxAbsDifference);

/// <summary>
/// Writes the <c>export.torchscript</c> artifact: the source model in eval mode, saved by libtorch, reloaded and
/// checked to give the same outputs as the source on the given inputs. jit.save to a byte[] writes nothing in
/// TorchSharp 0.107, so it saves to a temporary file beside the destination and renames it into place.
/// </summary>
public static class TorchScriptResaver
{
    public static TorchScriptResaveResult Resave(string source, string destination, IReadOnlyList<object[]> verificationInputs,
        SourceLocation? location = null, double tolerance = 1e-6)
    {
        if (verificationInputs.Count == 0) throw new ArgumentException("at least one input set is needed to verify the saved model");
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(destination))!;
        Directory.CreateDirectory(dir);
        var temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(destination)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using var original = TorchScriptRunner.Load(source, location);
            original.Module.eval();
            try
            {
                jit.save(original.Module, temp);
            }
            catch (Exception e)
            {
                throw new ModelBuildException(DiagnosticCodes.OutputWriteFailed,
                    $"libtorch could not save {source} as TorchScript: {TorchScriptRunner.FirstLine(e.Message)}", location, e);
            }

            // The saved file must be in eval mode throughout, as our own reader sees it.
            var archive = TorchScriptReader.Read(temp, location ?? new SourceLocation(source));
            if (TrainingModules(archive.Root).FirstOrDefault() is { } training)
                throw new ModelBuildException(DiagnosticCodes.OutputWriteFailed,
                    $"the re-saved TorchScript model still has {training} in training mode", location);

            double worst = 0;
            using (var reloaded = TorchScriptRunner.Load(temp, location))
            {
                foreach (var inputs in verificationInputs)
                {
                    var expected = original.Run(inputs);
                    var actual = reloaded.Run(inputs);
                    if (expected.Count != actual.Count)
                        throw Mismatch(source, $"{actual.Count} outputs instead of {expected.Count}", location);
                    for (var i = 0; i < expected.Count; i++)
                    {
                        if (!expected[i].Shape.SequenceEqual(actual[i].Shape) || expected[i].ElementType != actual[i].ElementType)
                            throw Mismatch(source, $"output {i} is {actual[i]} instead of {expected[i]}", location);
                        worst = Math.Max(worst, MaxAbs(expected[i], actual[i]));
                    }
                }
            }
            if (!(worst <= tolerance))
                throw Mismatch(source, $"outputs differ by up to {worst:G3} (tolerance {tolerance:G3})", location);

            File.Move(temp, destination, overwrite: true);
            return new TorchScriptResaveResult(destination, new FileInfo(destination).Length, worst);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static IEnumerable<string> TrainingModules(ScriptObject obj, string path = "model")
    {
        if (obj.Attributes.TryGetValue("training", out var t) && t is true) yield return path;
        foreach (var (name, value) in obj.Attributes)
            if (value is ScriptObject child)
                foreach (var p in TrainingModules(child, $"{path}.{name}")) yield return p;
    }

    private static double MaxAbs(NdArray a, NdArray b)
    {
        var x = a.ToDoubles();
        var y = b.ToDoubles();
        double worst = 0;
        for (var i = 0; i < x.Length; i++)
        {
            var d = Math.Abs(x[i] - y[i]);
            if (double.IsNaN(d)) d = double.IsNaN(x[i]) && double.IsNaN(y[i]) ? 0 : double.PositiveInfinity;
            worst = Math.Max(worst, d);
        }
        return worst;
    }

    private static ModelBuildException Mismatch(string source, string what, SourceLocation? location) =>
        new(DiagnosticCodes.ParityFailed, $"re-saved TorchScript of {source} does not reproduce the original: {what}", location);
}
