using ModelBuild.CodeGen;
using ModelBuild.Diagnostics;
using NuGet.Versioning;

namespace ModelBuild.Manifest;

/// <summary>
/// The manifests of one run (<c>modelbuild build|check a.yaml b.yaml</c>, or an app's ModelBuildManifest items),
/// loaded and then checked together. What depends on more than one model lives here — names shared across
/// manifests, and the Triton, KServe and C# names derived from model names — so <c>check</c> reports exactly what
/// <c>build</c> would, before any model work.
/// </summary>
public static class ManifestSet
{
    /// <summary>Loads every manifest and validates them together; null when any error was reported.</summary>
    public static IReadOnlyList<DeployManifest>? Load(IReadOnlyList<string> paths, DiagnosticBag diagnostics, NuGetVersion toolVersion)
    {
        var manifests = new List<DeployManifest>();
        var errorsBefore = diagnostics.Count(d => d.Severity == Severity.Error);
        foreach (var path in paths)
            if (ManifestLoader.Load(Path.GetFullPath(path), diagnostics, toolVersion) is { } manifest)
                manifests.Add(manifest);
        Validate(manifests, diagnostics);
        return diagnostics.Count(d => d.Severity == Severity.Error) > errorsBefore ? null : manifests;
    }

    /// <summary>
    /// Reports (MB1007, at the later model's name) model names that clash across manifests and names that become
    /// the same Triton model, KServe InferenceService or C# class. Each manifest on its own has passed the loader.
    /// </summary>
    public static void Validate(IReadOnlyList<DeployManifest> manifests, DiagnosticBag diagnostics)
    {
        var models = manifests.SelectMany(m => m.Models).ToList();

        // Models share one output folder and one Triton repository.
        var byName = new Dictionary<string, ModelSpec>(StringComparer.Ordinal);
        foreach (var model in models)
            if (!byName.TryAdd(model.Name.Value, model))
                diagnostics.Error(DiagnosticCodes.DuplicateName,
                    $"model name '{model.Name.Value}' is also used at {byName[model.Name.Value].Name.Location}; names must be unique " +
                    $"across manifests built together",
                    model.Name.Location);

        // Preprocessing adds <model>_preprocess and <model>_ensemble to the repository; the loader refuses a model with
        // either name in the same manifest, and across manifests it would silently overwrite that entry.
        foreach (var owner in models.Where(m => m.Deploy.Triton?.Preprocessing is not null))
            foreach (var extra in new[] { DerivedNames.TritonPreprocess(owner.Name.Value), DerivedNames.TritonEnsemble(owner.Name.Value) })
                foreach (var clash in models.Where(m => m.Name.Value == extra))
                    diagnostics.Error(DiagnosticCodes.DuplicateName,
                        $"model name '{extra}' is taken: model '{owner.Name.Value}' at {owner.Name.Location} declares triton.preprocessing, " +
                        $"which adds '{extra}' to the Triton repository",
                        clash.Name.Location);

        // "my-model" and "my_model" clash in both; one error per model is enough.
        var reported = new HashSet<ModelSpec>();
        ReportSameDerivedName(models.Where(m => m.Deploy.KServe is not null), m => DerivedNames.KServeService(m.Name.Value),
            "InferenceService", "(Kubernetes names can't hold '_')", reported, diagnostics);
        ReportSameDerivedName(models, m => TypedModelWriter.ClassName(m.Name.Value),
            "C# class", "in the generated ModelBuild.Models (names lose '-' and '_')", reported, diagnostics);
    }

    private static void ReportSameDerivedName(IEnumerable<ModelSpec> models, Func<ModelSpec, string> derive, string what, string why,
        HashSet<ModelSpec> reported, DiagnosticBag diagnostics)
    {
        var first = new Dictionary<string, ModelSpec>(StringComparer.Ordinal);
        foreach (var model in models)
        {
            var derived = derive(model);
            if (first.TryAdd(derived, model)) continue;
            var earlier = first[derived];
            if (earlier.Name.Value == model.Name.Value || !reported.Add(model)) continue; // the same name is reported above
            diagnostics.Error(DiagnosticCodes.DuplicateName,
                $"models '{earlier.Name.Value}' (at {earlier.Name.Location}) and '{model.Name.Value}' both become " +
                $"{what} '{derived}' {why}; rename one",
                model.Name.Location);
        }
    }
}
