using ModelBuild.Diagnostics;
using ModelBuild.Manifest;

namespace ModelBuild.Core.Tests.Manifest;

/// <summary>What only shows when models are looked at together: one manifest's models, or several manifests built at once.</summary>
public sealed class ManifestSetTests
{
    private static string Model(string name, string deploy = "{}") => $$"""
          - name: {{name}}
            source: models/m.onnx
            deploy: {{deploy}}

        """;

    private static string WriteManifest(ManifestWorkspace ws, string folder, params string[] models)
    {
        ws.Touch($"{folder}/models/m.onnx");
        var path = ws.Full($"{folder}/deploy.yaml");
        File.WriteAllText(path, "schema: 1\nmodels:\n" + string.Concat(models));
        return path;
    }

    private static Diagnostic SingleError(ManifestWorkspace ws, IReadOnlyList<string> paths, string expectedFile, int line, int column)
    {
        Assert.Null(ManifestSet.Load(paths, ws.Diagnostics, ManifestWorkspace.ToolVersion));
        var d = Assert.Single(ws.Diagnostics);
        Assert.Equal(("MB1007", Severity.Error), (d.Code, d.Severity));
        Assert.Equal((expectedFile, line, column), (d.Location!.File, d.Location.Line, d.Location.Column));
        return d;
    }

    [Fact]
    public void Distinct_models_across_manifests_load_together()
    {
        using var ws = new ManifestWorkspace();
        var a = WriteManifest(ws, "a", Model("digits"));
        var b = WriteManifest(ws, "b", Model("fashion", "{ kserve: true }"));
        var manifests = ManifestSet.Load([a, b], ws.Diagnostics, ManifestWorkspace.ToolVersion);
        Assert.Empty(ws.Diagnostics);
        Assert.Equal(["digits", "fashion"], manifests!.SelectMany(m => m.Models).Select(m => m.Name.Value));
    }

    [Fact]
    public void The_same_model_name_in_two_manifests_is_MB1007_at_the_second()
    {
        using var ws = new ManifestWorkspace();
        var a = WriteManifest(ws, "a", Model("digits"));
        var b = WriteManifest(ws, "b", Model("other"), Model("digits"));
        var d = SingleError(ws, [a, b], b, 6, 11);
        Assert.Equal($"model name 'digits' is also used at {a}(3,11); names must be unique across manifests built together", d.Message);
    }

    [Theory]
    [InlineData("fashion_preprocess")]
    [InlineData("fashion_ensemble")]
    public void A_model_named_like_another_manifests_generated_triton_model_is_MB1007(string name)
    {
        using var ws = new ManifestWorkspace();
        var a = WriteManifest(ws, "a", Model("fashion", "{ triton: { preprocessing: { input: { shape: [28, 28] } } } }"));
        var b = WriteManifest(ws, "b", Model(name));
        var d = SingleError(ws, [a, b], b, 3, 11);
        Assert.StartsWith($"model name '{name}' is taken: model 'fashion' at {a}(3,11) declares triton.preprocessing", d.Message);
    }

    [Fact]
    public void Models_that_become_the_same_InferenceService_are_MB1007_at_the_second()
    {
        using var ws = new ManifestWorkspace();
        var a = WriteManifest(ws, "a", Model("my-model", "{ kserve: true }"), Model("my_model", "{ kserve: true }"));
        var d = SingleError(ws, [a], a, 6, 11);
        Assert.Equal($"models 'my-model' (at {a}(3,11)) and 'my_model' both become InferenceService 'my-model' (Kubernetes names can't hold '_'); rename one", d.Message);
    }

    [Fact]
    public void Models_that_become_the_same_CSharp_class_are_MB1007_even_across_manifests()
    {
        using var ws = new ManifestWorkspace();
        var a = WriteManifest(ws, "a", Model("my-model"));
        var b = WriteManifest(ws, "b", Model("my_model"));
        var d = SingleError(ws, [a, b], b, 3, 11);
        Assert.Equal($"models 'my-model' (at {a}(3,11)) and 'my_model' both become C# class 'MyModelModel' in the generated ModelBuild.Models (names lose '-' and '_'); rename one", d.Message);
    }
}
