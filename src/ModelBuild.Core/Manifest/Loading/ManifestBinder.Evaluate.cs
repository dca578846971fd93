using ModelBuild.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace ModelBuild.Manifest.Loading;

internal sealed partial class ManifestBinder
{
    /// <summary><c>data</c> is one .npz (arrays named after the inputs plus labels) or { inputs: .npy, labels: .npy }.</summary>
    private EvaluateSpec? BindEvaluate(YamlNode node, string ctx)
    {
        if (reader.Map(node, "evaluate", $"in 'evaluate' {ctx}") is not { } map) return null;
        map.CheckKeys(ManifestKeys.Evaluate);

        string? data = null, inputs = null, labels = null;
        if (map.Require("data") is { } d)
        {
            if (d is YamlMappingNode)
            {
                if (reader.Map(d, "evaluate.data", $"in 'evaluate.data' {ctx}") is { } files)
                {
                    files.CheckKeys(ManifestKeys.EvaluateData);
                    inputs = files.Require("inputs") is { } i ? FilePath(i, "evaluate.data.inputs", [".npy"]) : null;
                    labels = files.Require("labels") is { } l ? FilePath(l, "evaluate.data.labels", [".npy"]) : null;
                }
            }
            else
            {
                data = FilePath(d, "evaluate.data", [".npz"]);
            }
        }

        var metric = map["metric"] is { } m ? reader.Enum(m, "evaluate.metric", EnumNames.Metric) : null;
        var samples = map["samples"] is { } s ? reader.Int(s, "evaluate.samples", min: 1) : null;
        return new EvaluateSpec
        {
            Data = data,
            InputsFile = inputs,
            LabelsFile = labels,
            Metric = metric ?? MetricKind.Top1,
            Samples = samples,
            Location = map.Location,
        };
    }
}
