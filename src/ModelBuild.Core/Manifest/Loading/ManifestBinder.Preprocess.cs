using ModelBuild.Diagnostics;
using ModelBuild.Runtime;
using YamlDotNet.RepresentationModel;

namespace ModelBuild.Manifest.Loading;

internal sealed partial class ManifestBinder
{
    /// <summary>
    /// A model's image preprocessing is declared once: in <c>preprocess</c>, or (the older spellings, promoted to
    /// the model) by the image keys of <c>evaluate.data</c> or <c>deploy.triton.preprocessing</c>. The first
    /// declaration is the model's; a second is MB1004 at its first key.
    /// </summary>
    private sealed class PreprocessDeclaration
    {
        public ImagePreprocessing? Value { get; private set; }
        public string? Key { get; private set; }

        public void Add(ImagePreprocessing value, string key, YamlNode at, YamlNodeReader reader)
        {
            if (Value is null)
            {
                (Value, Key) = (value, key);
                return;
            }
            reader.Report(DiagnosticCodes.InvalidValue,
                $"image preprocessing is declared in '{Key}' and again in '{key}'; declare it once, in 'preprocess': evaluation, " +
                "modelbuild serve's /predict, the typed model class and Triton's preprocessing model all apply that one definition", at);
        }
    }

    // The model being bound: its declaration so far (models bind one after another).
    private PreprocessDeclaration _preprocess = new();

    /// <summary>The model-level <c>preprocess</c> block.</summary>
    private void BindPreprocessBlock(YamlNode node, string ctx)
    {
        if (reader.Map(node, "preprocess", $"in 'preprocess' {ctx}") is not { } map) return;
        map.CheckKeys(ManifestKeys.Preprocess);
        if (BindImagePreprocessing(map, "preprocess", resize: true) is { } value)
            _preprocess.Add(value, "preprocess", map.Node, reader);
    }

    /// <summary>The preprocessing keys of an evaluate.data form or deploy.triton.preprocessing, declared for the model.</summary>
    private ImagePreprocessing? DeclarePreprocessing(YamlMap map, string where, bool resize)
    {
        var value = BindImagePreprocessing(map, where, resize);
        if (value is not null) _preprocess.Add(value, where, FirstPreprocessKey(map), reader);
        return value;
    }

    /// <summary>The first preprocessing key written in <paramref name="map"/>, where a second declaration is reported.</summary>
    private static YamlNode FirstPreprocessKey(YamlMap map) =>
        ManifestKeys.Preprocess.Select(k => (YamlNode?)map.KeyNode(k)).FirstOrDefault(n => n is not null) ?? map.Node;

    /// <summary>
    /// The preprocessing keys present in <paramref name="map"/> (size and crop only where <paramref name="resize"/>),
    /// on top of <see cref="ImagePreprocessing"/>'s defaults; null when none is present or a value is invalid.
    /// </summary>
    private ImagePreprocessing? BindImagePreprocessing(YamlMap map, string where, bool resize)
    {
        if (!ManifestKeys.Preprocess.Any(k => map[k] is not null && (resize || k is not ("size" or "crop")))) return null;
        var result = new ImagePreprocessing();
        var valid = true;
        if (resize && map["size"] is { } size) result = Pair(size, $"{where}.size") is { } s ? result with { Size = [s.Item1, s.Item2] } : Invalid();
        if (resize && map["crop"] is { } crop) result = Pair(crop, $"{where}.crop") is { } c ? result with { Crop = [c.Item1, c.Item2] } : Invalid();
        if (map["layout"] is { } layout)
            result = reader.Enum(layout, $"{where}.layout", EnumNames.ImageLayout) is { } l ? result with { Layout = l } : Invalid();
        if (map["scale"] is { } scale)
            result = reader.Number(scale, $"{where}.scale", 0, minExclusive: true) is { } sc ? result with { Scale = sc } : Invalid();
        if (map["mean"] is { } mean) result = Numbers(mean, $"{where}.mean", positive: false) is { } m ? result with { Mean = [.. m] } : Invalid();
        if (map["std"] is { } std) result = Numbers(std, $"{where}.std", positive: true) is { } d ? result with { Std = [.. d] } : Invalid();
        if (valid && result.Mean.Length > 1 && result.Std.Length > 1 && result.Mean.Length != result.Std.Length)
        {
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'{where}.mean' has {result.Mean.Length} values but 'std' has {result.Std.Length}; give one per channel, or one for all",
                map["std"]!);
            valid = false;
        }
        if (valid && result is { Size: { } sz, Crop: { } cr } && (cr[0] > sz[0] || cr[1] > sz[1]))
        {
            reader.Report(DiagnosticCodes.InvalidValue, $"'{where}.crop' {cr[0]}x{cr[1]} is larger than 'size' {sz[0]}x{sz[1]} (height x width)",
                map["crop"]!);
            valid = false;
        }
        return valid ? result : null;

        ImagePreprocessing Invalid()
        {
            valid = false;
            return result;
        }
    }
}
