namespace ModelBuild.IO;

/// <summary>The output layout of contract v1, relative to the output folder, '/'-separated.</summary>
public static class OutputLayout
{
    public const string JsonReport = "modelbuild-report.json";
    public const string MarkdownReport = "modelbuild-report.md";
    public const string DeployFolder = "deploy";
    public const string HtmlReport = "modelbuild-report.html";
    public const string JUnitReport = "modelbuild-report.junit.xml";
    public const string Dockerfile = "deploy/Dockerfile";
    public const string DockerIgnore = "deploy/.dockerignore";
    public const string KServe = "deploy/kserve.yaml";

    public static string BaseModel(string model) => $"models/{model}/model.onnx";
    public static string TorchScriptModel(string model) => $"models/{model}/model.pt";
    /// <summary>The model's image preprocessing (ModelBuild.Runtime.ImagePreprocessing), for /predict and apps.</summary>
    public static string Preprocess(string model) => $"models/{model}/{Runtime.ImagePreprocessing.FileName}";
    public static string VariantModel(string model, string variant) => $"models/{model}/{variant}/model.onnx";
    public static string BaseMobileModel(string model) => $"models/{model}/model.ort";
    public static string MobileModel(string model, string variant) => $"models/{model}/{variant}/model.ort";
    public static string BaseTfliteModel(string model) => $"models/{model}/model.tflite";
    public static string TfliteModel(string model, string variant) => $"models/{model}/{variant}/model.tflite";
    public static string TritonConfig(string model) => $"deploy/triton/{model}/config.pbtxt";
    public static string TritonModel(string model, int version = 1) => $"deploy/triton/{model}/{version}/model.onnx";

    /// <summary>A file under the deploy folder, from a path relative to it.</summary>
    public static string Deploy(string relative) => $"{DeployFolder}/{relative}";
}
