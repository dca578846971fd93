using System.Text.Json;
using ModelBuild.Manifest.Loading;

namespace ModelBuild.Core.Tests.Manifest;

/// <summary>schema/deploy.schema.json must accept exactly the keys the loader accepts, or editors mislead users.</summary>
public sealed class ManifestSchemaTests
{
    private static JsonElement LoadSchema()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ModelBuild.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.FullName, "schema", "deploy.schema.json")));
        return doc.RootElement.Clone();
    }

    private static string[] Keys(JsonElement obj)
    {
        Assert.False(obj.GetProperty("additionalProperties").GetBoolean());
        return obj.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order().ToArray();
    }

    private static JsonElement Def(JsonElement schema, string name) => schema.GetProperty("$defs").GetProperty(name);

    private static JsonElement Prop(JsonElement obj, params string[] path)
    {
        foreach (var p in path) obj = obj.GetProperty("properties").GetProperty(p);
        return obj;
    }

    [Fact]
    public void SchemaIsDraft202012()
    {
        var schema = LoadSchema();
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", schema.GetProperty("$schema").GetString());
        Assert.Equal(1, Prop(schema, "schema").GetProperty("const").GetInt32());
    }

    [Fact]
    public void TopLevelModelAndVariantKeysMatchTheLoader()
    {
        var schema = LoadSchema();
        Assert.Equal(ManifestKeys.Root.Order(), Keys(schema));
        Assert.Equal(ManifestKeys.Model.Order(), Keys(Def(schema, "model")));
        Assert.Equal(ManifestKeys.Variant.Order(), Keys(Def(schema, "variant")));
    }

    [Fact]
    public void NestedKeysMatchTheLoader()
    {
        var s = LoadSchema();
        var model = Def(s, "model");
        var variant = Def(s, "variant");
        Assert.Equal(ManifestKeys.Input.Order(), Keys(Prop(model, "inputs").GetProperty("items")));
        Assert.Equal(ManifestKeys.Output.Order(), Keys(Prop(model, "outputs").GetProperty("items")));
        Assert.Equal(ManifestKeys.Export.Order(), Keys(Prop(model, "export")));
        Assert.Equal(ManifestKeys.Evaluate.Order(), Keys(Prop(model, "evaluate")));
        Assert.Equal(ManifestKeys.Checks.Order(), Keys(Prop(model, "checks")));
        Assert.Equal(ManifestKeys.Parity.Order(), Keys(Prop(model, "checks", "parity")));
        Assert.Equal(ManifestKeys.Accuracy.Order(), Keys(Prop(model, "checks", "accuracy")));
        Assert.Equal(ManifestKeys.Latency.Order(), Keys(Prop(model, "checks", "latency")));
        Assert.Equal(ManifestKeys.Size.Order(), Keys(Prop(model, "checks", "size")));
        Assert.Equal(ManifestKeys.Deploy.Order(), Keys(Prop(model, "deploy")));
        Assert.Equal(ManifestKeys.Triton.Order(), Keys(Prop(model, "deploy", "triton")));
        Assert.Equal(ManifestKeys.DynamicBatching.Order(), Keys(Prop(model, "deploy", "triton", "dynamic_batching")));
        Assert.Equal(ManifestKeys.Optimization.Order(), Keys(Prop(model, "deploy", "triton", "optimization")));
        Assert.Equal(ManifestKeys.VersionPolicy.Order(), Keys(Prop(model, "deploy", "triton", "version_policy").GetProperty("oneOf")[1]));
        Assert.Equal(ManifestKeys.Warmup.Order(), Keys(Prop(model, "deploy", "triton", "warmup").GetProperty("oneOf")[1]));
        Assert.Equal(ManifestKeys.Preprocessing.Order(), Keys(Prop(model, "deploy", "triton", "preprocessing")));
        Assert.Equal(ManifestKeys.PreprocessingInput.Order(), Keys(Prop(model, "deploy", "triton", "preprocessing", "input")));
        var kserve = Prop(model, "deploy", "kserve").GetProperty("oneOf")[1];
        Assert.Equal(ManifestKeys.KServe.Order(), Keys(kserve));
        Assert.Equal(ManifestKeys.Resources.Order(), Keys(Prop(kserve, "resources")));
        Assert.Equal(ManifestKeys.Quantize.Order(), Keys(Prop(variant, "quantize")));
        Assert.Equal(ManifestKeys.Calibration.Order(), Keys(Prop(variant, "quantize", "calibration")));
        Assert.Equal(ManifestKeys.Exclude.Order(), Keys(Prop(variant, "quantize", "exclude")));
        Assert.Equal(ManifestKeys.Prune.Order(), Keys(Prop(variant, "prune")));
        Assert.Equal(ManifestKeys.Finetune.Order(), Keys(Def(s, "finetune")));
        Assert.Equal("#/$defs/finetune", Prop(variant, "prune", "finetune").GetProperty("$ref").GetString());
        Assert.Equal("#/$defs/finetune", Prop(variant, "quantize", "finetune").GetProperty("$ref").GetString());
    }

    [Fact]
    public void EvaluateDataFormsMatchTheLoader()
    {
        var forms = Prop(Def(LoadSchema(), "model"), "evaluate", "data").GetProperty("oneOf").EnumerateArray()
            .Where(f => f.GetProperty("type").GetString() == "object").ToList();
        Assert.Equal(
            new[] { ManifestKeys.EvaluateNpy, ManifestKeys.EvaluateCsv, ManifestKeys.EvaluateImages, ManifestKeys.EvaluateIdx }.Select(k => string.Join(",", k.Order())),
            forms.Select(f => string.Join(",", Keys(f))));
        Assert.Equal(ManifestKeys.EvaluateData.Order(), forms.SelectMany(Keys).Distinct().Order());
        Assert.Equal(ManifestKeys.EvaluateIdxFiles.Order(), Keys(Prop(forms[3], "idx")));
        Assert.Equal(EnumNames.ImageLayout.Select(x => x.Item1), Prop(forms[2], "layout").GetProperty("enum").EnumerateArray().Select(x => x.GetString()!));
    }

    [Fact]
    public void EnumsMatchTheLoader()
    {
        var s = LoadSchema();
        static string[] Enum(JsonElement e) => e.GetProperty("enum").EnumerateArray().Select(x => x.GetString()!).ToArray();
        var model = Def(s, "model");
        Assert.Equal(EnumNames.DType.Select(x => x.Item1), Enum(Prop(model, "inputs").GetProperty("items").GetProperty("properties").GetProperty("dtype")));
        Assert.Equal(EnumNames.Metric.Select(x => x.Item1), Enum(Prop(model, "evaluate", "metric")));
        Assert.Equal(EnumNames.Docker.Select(x => x.Item1), Enum(Prop(model, "deploy", "docker")));
        Assert.Equal(EnumNames.TritonPlatform.Select(x => x.Item1), Enum(Prop(model, "deploy", "triton", "platform")));
        Assert.Equal(EnumNames.Accelerator.Select(x => x.Item1), Enum(Prop(model, "deploy", "triton", "optimization", "accelerator")));
        Assert.Equal(EnumNames.Precision.Select(x => x.Item1), Enum(Prop(model, "deploy", "triton", "optimization", "precision")));
        Assert.Equal(EnumNames.VersionPolicy.Select(x => x.Item1), Enum(Prop(model, "deploy", "triton", "version_policy").GetProperty("oneOf")[0]));
        Assert.Equal(EnumNames.RawImageType.Select(x => x.Item1), Enum(Prop(model, "deploy", "triton", "preprocessing", "input", "dtype")));
        Assert.Equal(EnumNames.ImageLayout.Select(x => x.Item1), Enum(Prop(model, "deploy", "triton", "preprocessing", "layout")));
        Assert.Equal(EnumNames.ScaleMetric.Select(x => x.Item1), Enum(Prop(Prop(model, "deploy", "kserve").GetProperty("oneOf")[1], "scale_metric")));
        Assert.Equal(EnumNames.Optimize.Select(x => x.Item1), Enum(Prop(Def(s, "variant"), "optimize")));
        Assert.Equal(EnumNames.Prune.Select(x => x.Item1), Enum(Prop(Def(s, "variant"), "prune", "method")));
        Assert.Equal(EnumNames.Severity.Select(x => x.Item1), Enum(Def(s, "severity")));
        Assert.Equal(EnumNames.Optimizer.Select(x => x.Item1), Enum(Prop(Def(s, "finetune"), "optimizer")));
        Assert.Equal(EnumNames.Loss.Select(x => x.Item1), Enum(Prop(Def(s, "finetune"), "loss")));
    }
}
