using ModelBuild.Diagnostics;
using ModelBuild.IO;
using ModelBuild.Manifest;
using ModelBuild.Onnx;

namespace ModelBuild.Targets;

/// <summary>Writes the per-model deployment targets for the deployed artifact: Triton repository entry and ORT mobile model.</summary>
public static class DeploymentWriter
{
    public static void Write(ModelSpec spec, ModelInterface modelInterface, string deployedModelPath, OutputStaging staging)
    {
        var name = spec.Name.Value;
        var deploy = spec.Deploy;

        // The Triton repository is always written: it is the most common serving layout and costs one small file.
        var platform = deploy.Triton?.Platform ?? TritonPlatform.OnnxRuntime;
        staging.WriteText(OutputLayout.TritonConfig(name),
            TritonConfigWriter.Write(name, modelInterface, deploy.Triton, platform));
        // libtorch serves the verified re-saved TorchScript (the loader ensured export.torchscript and the base export).
        var served = platform == TritonPlatform.PyTorchLibTorch ? staging.PathFor(OutputLayout.TorchScriptModel(name)) : deployedModelPath;
        staging.CopyFile(served, OutputLayout.TritonModel(name, platform));

        if (deploy.Mobile is "ort")
        {
            var variant = deploy.Variant.Value is VariantSpec.BaseName or DeploySpec.BestVariant ? null : deploy.Variant.Value;
            var relative = variant is null ? $"models/{name}/model.ort" : OutputLayout.MobileModel(name, variant);
            OrtFormatWriter.Write(deployedModelPath, staging.PathFor(relative), deploy.Location ?? spec.Location);
        }
    }

    /// <summary>Refuses targets this version cannot write before any model work starts.</summary>
    public static void Preflight(ModelSpec spec)
    {
        var deploy = spec.Deploy;
        if (deploy.KServe)
            throw new ModelBuildException(DiagnosticCodes.NotSupportedYet,
                "'kserve' manifests are not supported by this version of ModelBuild yet", deploy.Location ?? spec.Location);
    }
}
