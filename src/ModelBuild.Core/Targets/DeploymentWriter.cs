using ModelBuild.Diagnostics;
using ModelBuild.IO;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Targets;

/// <summary>Writes the per-model deployment targets for the deployed artifact: Triton repository entry and ORT mobile model.</summary>
public static class DeploymentWriter
{
    /// <returns>The TensorRT engine the Dockerfile must build for this model, or null.</returns>
    public static TensorRtEngine? Write(ModelSpec spec, ModelInterface modelInterface, string deployedModelPath, OutputStaging staging)
    {
        var name = spec.Name.Value;
        var deploy = spec.Deploy;
        var triton = deploy.Triton;
        TensorRtEngine? engine = null;

        // The Triton repository is always written: it is the most common serving layout and costs one small file.
        var platform = (triton?.Platform ?? TritonBackendKind.OnnxRuntime) switch
        {
            TritonBackendKind.TensorRt => TritonPlatform.TensorRtPlan,
            TritonBackendKind.PyTorch => TritonPlatform.PyTorchLibTorch,
            _ => TritonPlatform.OnnxRuntime,
        };
        // Planned first: a preprocessing that cannot feed the model fails before anything is staged.
        var ensemble = triton?.Preprocessing is not null ? TritonEnsemble.Create(name, modelInterface, triton, platform) : null;
        switch (triton?.Platform ?? TritonBackendKind.OnnxRuntime)
        {
            case TritonBackendKind.TensorRt:
                // The plan is built by the Dockerfile on a GPU; the repository gets its config, the engine stage the ONNX.
                engine = TensorRtEngine.For(name, modelInterface, triton!);
                RefuseNonStandardOps(deployedModelPath, deploy.Variant.Value, triton!.Location);
                staging.WriteText(OutputLayout.TritonConfig(name),
                    TritonConfigWriter.Write(name, modelInterface, triton, TritonPlatform.TensorRtPlan));
                staging.CopyFile(deployedModelPath, OutputLayout.Deploy(TritonLayout.EngineSourcePath(name)));
                break;
            case TritonBackendKind.PyTorch:
                // The manifest binder requires export.torchscript for this platform, so model.pt is staged already.
                WriteTritonModel(name, modelInterface, triton, TritonPlatform.PyTorchLibTorch,
                    staging.PathFor(OutputLayout.TorchScriptModel(name)), staging);
                break;
            default:
                WriteTritonModel(name, modelInterface, triton, TritonPlatform.OnnxRuntime, deployedModelPath, staging);
                break;
        }
        if (ensemble is not null) WriteEnsemble(ensemble, triton!.Version, staging);

        // The one image preprocessing, where `modelbuild serve` and ModelBuild.Runtime find it.
        if (spec.Preprocess is { } preprocess)
            staging.WriteText(OutputLayout.Preprocess(name), preprocess.ToJson());

        if (deploy.Writes(MobileFormat.Ort))
        {
            var variant = deploy.Variant.Value is VariantSpec.BaseName or DeploySpec.BestVariant ? null : deploy.Variant.Value;
            var relative = variant is null ? OutputLayout.BaseMobileModel(name) : OutputLayout.MobileModel(name, variant);
            OrtFormatWriter.Write(deployedModelPath, staging.PathFor(relative), deploy.MobileLocation ?? deploy.Location ?? spec.Location);
        }
        return engine;
    }

    /// <summary>
    /// One Triton repository entry: <c>config.pbtxt</c> and the artifact in its version folder. The TorchScript
    /// artifact goes through here with <see cref="TritonPlatform.PyTorchLibTorch"/> (tensors INPUT__i/OUTPUT__i,
    /// shapes and types from the ONNX export's interface, which the TorchScript module shares).
    /// </summary>
    public static void WriteTritonModel(
        string name, ModelInterface modelInterface, TritonSpec? triton, TritonPlatform platform, string artifactPath, OutputStaging staging)
    {
        staging.WriteText(OutputLayout.TritonConfig(name), TritonConfigWriter.Write(name, modelInterface, triton, platform));
        staging.CopyFile(artifactPath,
            OutputLayout.Deploy(TritonLayout.ModelPath(name, platform, triton?.Version ?? TritonLayout.DefaultVersion)));
    }

    /// <summary>The preprocessing model and the ensemble, each in its own repository entry.</summary>
    public static void WriteEnsemble(TritonEnsemble.Plan plan, int version, OutputStaging staging)
    {
        staging.WriteText(OutputLayout.TritonConfig(plan.PreprocessName), plan.PreprocessConfig);
        staging.WriteBytes(OutputLayout.Deploy(TritonLayout.ModelPath(plan.PreprocessName, TritonPlatform.OnnxRuntime, version)),
            OnnxModelFile.Serialize(plan.PreprocessModel));
        staging.WriteText(OutputLayout.TritonConfig(plan.EnsembleName), plan.EnsembleConfig);
        // Triton loads an ensemble only if it has a version folder, though nothing goes in it; staging keeps files, not folders.
        staging.WriteText(OutputLayout.Deploy(TritonLayout.EnsembleVersionMarker(plan.EnsembleName, version)),
            "Triton needs this version folder for the ensemble; the ensemble itself has no model file.\n");
    }

    /// <summary>
    /// TensorRT's ONNX parser knows the standard operator set only; ONNX Runtime's extended optimizations add
    /// com.microsoft fused ops (FusedConv, FusedGemm), which would fail the image build much later.
    /// </summary>
    private static void RefuseNonStandardOps(string onnxPath, string variant, SourceLocation location)
    {
        var custom = OnnxModelFile.Load(onnxPath, location).Graph.Node
            .Where(n => n.Domain is not ("" or "ai.onnx"))
            .Select(n => $"{n.Domain}.{n.OpType}")
            .Distinct().Order(StringComparer.Ordinal).ToList();
        if (custom.Count > 0)
            throw new ModelBuildException(DiagnosticCodes.InvalidValue,
                $"'platform: tensorrt': TensorRT reads standard ONNX operators only, but the deployed artifact '{variant}' uses " +
                $"{string.Join(", ", custom)} (added by 'optimize: extended'); deploy a variant with 'optimize: basic' or 'none', or base",
                location);
    }
}
