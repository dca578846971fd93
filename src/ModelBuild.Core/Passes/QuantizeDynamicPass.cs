using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using ModelBuild.Passes.Quantization;

namespace ModelBuild.Passes;

/// <summary>Dynamic int8 of MatMul/Gemm weights (see <see cref="DynamicQuantizer"/>); needs no calibration data.</summary>
public sealed class QuantizeDynamicPass(DynamicQuantConfig config, SourceLocation location) : IModelPass
{
    public string Name => "quantize:dynamic";
    public bool IsLossless => false;

    public void Run(PassContext context)
    {
        var pre = QuantPreprocessor.Run(context.InputPath, Path.GetDirectoryName(context.OutputPath)!, location);
        var quantizer = new DynamicQuantizer(config);
        if (quantizer.Candidates(new GraphEditor(pre)).Count == 0)
            context.Outcome.Notes.Add("no MatMul/Gemm with constant weights to quantize dynamically; the model is unchanged apart from pre-processing");
        File.WriteAllBytes(context.OutputPath, OnnxModelFile.Serialize(quantizer.Quantize(pre)));
    }
}
