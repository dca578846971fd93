namespace ModelBuild.Targets;

/// <summary>The Triton backend that serves a model; fixes the <c>platform</c> string and tensor naming.</summary>
public enum TritonPlatform
{
    /// <summary><c>onnxruntime_onnx</c>: serves <c>model.onnx</c>; tensors keep their graph names.</summary>
    OnnxRuntime,

    /// <summary><c>pytorch_libtorch</c>: serves <c>model.pt</c>; tensors are named <c>INPUT__i</c>/<c>OUTPUT__i</c>.</summary>
    PyTorchLibTorch,

    /// <summary><c>tensorrt_plan</c>: serves <c>model.plan</c>, a TensorRT engine; tensors keep their ONNX names.</summary>
    TensorRtPlan,
}
