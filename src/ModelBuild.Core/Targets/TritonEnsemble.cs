using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Targets;

/// <summary>
/// With <c>deploy.triton.preprocessing</c>, the repository gains two entries next to the model: <c>&lt;model&gt;_preprocess</c>
/// (a generated ONNX model that normalizes raw images) and <c>&lt;model&gt;_ensemble</c>, which clients call with the
/// raw image and which answers with the model's outputs.
/// </summary>
public static class TritonEnsemble
{
    /// <summary>Everything the two extra repository entries hold.</summary>
    public sealed record Plan(
        string PreprocessName, ModelProto PreprocessModel, ModelInterface PreprocessInterface, string PreprocessConfig,
        string EnsembleName, ModelInterface EnsembleInterface, string EnsembleConfig);

    /// <param name="model">The served model's interface (graph names); <paramref name="platform"/> decides Triton's names for it.</param>
    /// <exception cref="Diagnostics.ModelBuildException">When the preprocessing cannot feed this model.</exception>
    public static Plan Create(string modelName, ModelInterface model, TritonSpec triton, TritonPlatform platform)
    {
        var pre = triton.Preprocessing ?? throw new ArgumentException("deploy.triton.preprocessing is not set", nameof(triton));
        var target = PreprocessingModel.Target(model, pre);

        // The tensor between the two steps: named after the model input, unless an ensemble input/output has that name.
        var taken = model.Outputs.Select(o => o.Name).Append(pre.InputName).ToHashSet(StringComparer.Ordinal);
        var between = target.Name;
        while (taken.Contains(between)) between += "_preprocessed";

        var preName = DerivedNames.TritonPreprocess(modelName);
        var preInterface = PreprocessingModel.Interface(pre, target, between);
        // Same batching and placement as the model; dynamic batching happens once, at the model.
        var preSpec = new TritonSpec
        {
            MaxBatchSize = triton.MaxBatchSize,
            InstanceGroups = triton.InstanceGroups,
            Version = triton.Version,
            VersionPolicy = triton.VersionPolicy,
            Location = pre.Location,
        };
        var preConfig = TritonConfigWriter.Write(preName, preInterface, preSpec, TritonPlatform.OnnxRuntime);

        var ensemble = new ModelInterface([preInterface.Inputs[0]], model.Outputs);
        // Steps pin the version this build writes, so the ensemble never pairs a model with another build's preprocessing.
        var steps = new[]
        {
            new EnsembleStep(preName, triton.Version,
                [new(pre.InputName, pre.InputName)],
                [new(between, between)]),
            new EnsembleStep(modelName, triton.Version,
                [new(TritonConfigWriter.InputName(target, 0, platform), between)],
                model.Outputs.Select((o, i) => new KeyValuePair<string, string>(TritonConfigWriter.OutputName(o, i, platform), o.Name)).ToList()),
        };
        var ensembleName = DerivedNames.TritonEnsemble(modelName);
        var ensembleConfig = TritonConfigWriter.WriteEnsemble(ensembleName, ensemble, triton.MaxBatchSize, triton.VersionPolicy, steps);

        return new Plan(preName, PreprocessingModel.Build(preName, pre, target, between), preInterface, preConfig,
            ensembleName, ensemble, ensembleConfig);
    }
}
