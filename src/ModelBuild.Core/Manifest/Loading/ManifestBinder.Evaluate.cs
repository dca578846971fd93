using ModelBuild.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace ModelBuild.Manifest.Loading;

internal sealed partial class ManifestBinder
{
    /// <summary>
    /// <c>data</c> is a path (.npz or .csv) or a mapping whose naming key picks the form:
    /// <c>inputs</c> (.npy pair), <c>csv</c>, <c>images</c> (class folders) or <c>idx</c> (MNIST files).
    /// </summary>
    private EvaluateSpec? BindEvaluate(YamlNode node, string ctx)
    {
        if (reader.Map(node, "evaluate", $"in 'evaluate' {ctx}") is not { } map) return null;
        map.CheckKeys(ManifestKeys.Evaluate);

        var data = new EvaluateSpec { Location = map.Location };
        SourceLocation? dataLocation = null;
        if (map.Require("data") is { } d)
        {
            dataLocation = reader.At(d);
            if (d is YamlMappingNode)
            {
                if (reader.Map(d, "evaluate.data", $"in 'evaluate.data' {ctx}") is { } form)
                    data = BindDataForm(form, map.Location) ?? data;
            }
            else if (reader.Text(d, "evaluate.data") is { } text)
            {
                var csv = Path.GetExtension(text.Value).Equals(".csv", StringComparison.OrdinalIgnoreCase);
                var file = FilePath(d, "evaluate.data", [".npz", ".csv"]);
                data = csv
                    ? new EvaluateSpec { Format = EvaluationDataFormat.Csv, CsvFile = file, Location = map.Location }
                    : new EvaluateSpec { Format = EvaluationDataFormat.Npz, Data = file, Location = map.Location };
            }
        }

        var metric = map["metric"] is { } m ? reader.Enum(m, "evaluate.metric", EnumNames.Metric) : null;
        var samples = map["samples"] is { } s ? reader.Int(s, "evaluate.samples", min: 1) : null;
        return new EvaluateSpec
        {
            Format = data.Format,
            Data = data.Data,
            InputsFile = data.InputsFile,
            LabelsFile = data.LabelsFile,
            CsvFile = data.CsvFile,
            LabelColumn = data.LabelColumn,
            InputName = data.InputName,
            ImageDirectory = data.ImageDirectory,
            IdxImages = data.IdxImages,
            IdxLabels = data.IdxLabels,
            Metric = metric ?? MetricKind.Top1,
            Samples = samples,
            Location = map.Location,
            DataLocation = dataLocation ?? map.Location,
        };
    }

    private EvaluateSpec? BindDataForm(YamlMap form, SourceLocation at)
    {
        string[] naming = ["inputs", "csv", "images", "idx"];
        var present = naming.Where(form.Has).ToList();
        if (present.Count == 0)
        {
            form.CheckKeys(ManifestKeys.EvaluateData);
            reader.Report(DiagnosticCodes.MissingKey,
                $"'evaluate.data' needs one of: inputs (with labels), csv, images, idx", form.Node);
            return null;
        }
        if (present.Count > 1)
        {
            reader.Report(DiagnosticCodes.InvalidValue,
                $"'evaluate.data' takes one form, but names {string.Join(" and ", present)}", form.KeyNode(present[1])!);
            return null;
        }
        switch (present[0])
        {
            case "inputs":
                form.CheckKeys(ManifestKeys.EvaluateNpy);
                return new EvaluateSpec
                {
                    Format = EvaluationDataFormat.Npy,
                    InputsFile = FilePath(form["inputs"]!, "evaluate.data.inputs", [".npy"]),
                    LabelsFile = form.Require("labels") is { } l ? FilePath(l, "evaluate.data.labels", [".npy"]) : null,
                    Location = at,
                };
            case "csv":
                form.CheckKeys(ManifestKeys.EvaluateCsv);
                return new EvaluateSpec
                {
                    Format = EvaluationDataFormat.Csv,
                    CsvFile = FilePath(form["csv"]!, "evaluate.data.csv", [".csv"]),
                    LabelColumn = form["label_column"] is { } lc ? reader.Text(lc, "evaluate.data.label_column")?.Value ?? "label" : "label",
                    InputName = form["input"] is { } i ? reader.Text(i, "evaluate.data.input")?.Value : null,
                    Location = at,
                };
            case "images":
                form.CheckKeys(ManifestKeys.EvaluateImages);
                DeclarePreprocessing(form, "evaluate.data", resize: true);
                return new EvaluateSpec
                {
                    Format = EvaluationDataFormat.Images,
                    ImageDirectory = FolderPath(form["images"]!, "evaluate.data.images"),
                    Location = at,
                };
            default:
                form.CheckKeys(ManifestKeys.EvaluateIdx);
                DeclarePreprocessing(form, "evaluate.data", resize: false);
                string? images = null, labels = null;
                if (reader.Map(form["idx"]!, "evaluate.data.idx", "in 'evaluate.data.idx'") is { } idx)
                {
                    idx.CheckKeys(ManifestKeys.EvaluateIdxFiles);
                    images = idx.Require("images") is { } im ? FilePath(im, "evaluate.data.idx.images", []) : null;
                    labels = idx["labels"] is { } lb ? FilePath(lb, "evaluate.data.idx.labels", []) : null;
                }
                return new EvaluateSpec
                {
                    Format = EvaluationDataFormat.Idx,
                    IdxImages = images,
                    IdxLabels = labels,
                    Location = at,
                };
        }
    }

    /// <summary>[height, width], both positive integers.</summary>
    private (int, int)? Pair(YamlNode node, string what)
    {
        if (reader.List(node, what) is not { } items) return null;
        if (items.Count != 2)
        {
            reader.Report(DiagnosticCodes.InvalidValue, $"'{what}' must be [height, width], got {items.Count} value(s)", node);
            return null;
        }
        var h = reader.Int(items[0], what, min: 1, max: 16384);
        var w = reader.Int(items[1], what, min: 1, max: 16384);
        return h is { } hh && w is { } ww ? (hh, ww) : null;
    }

    /// <summary>One number, or a list of 1–4 (one per channel).</summary>
    private IReadOnlyList<double>? Numbers(YamlNode node, string what, bool positive)
    {
        var items = node is YamlSequenceNode seq ? seq.Children.ToList() : [node];
        if (items.Count == 0)
        {
            reader.Report(DiagnosticCodes.InvalidValue, $"'{what}' must list at least one value", node);
            return null;
        }
        if (items.Count > 4)
        {
            reader.Report(DiagnosticCodes.InvalidValue, $"'{what}' must be one number or one per channel (1 to 4), got {items.Count}", node);
            return null;
        }
        var values = items.Select(i => positive ? reader.Number(i, what, 0, minExclusive: true) : reader.Number(i, what)).ToList();
        return values.All(v => v is not null) ? values.Select(v => v!.Value).ToList() : null;
    }

    /// <summary>A folder relative to the manifest; a missing one is MB1008 like a missing file.</summary>
    private string? FolderPath(YamlNode node, string what)
    {
        if (reader.Text(node, what) is not { } text) return null;
        string full;
        try
        {
            full = Path.GetFullPath(Path.Combine(directory, text.Value.Replace('\\', '/')));
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            reader.Report(DiagnosticCodes.InvalidValue, $"'{what}' is not a valid path: '{text.Value}'", node);
            return null;
        }
        if (!Directory.Exists(full))
            reader.Report(DiagnosticCodes.FileNotFound, $"folder not found: '{text.Value}' (looked for {full})", node);
        return full;
    }
}
