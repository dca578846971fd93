using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Targets;
using YamlDotNet.RepresentationModel;
using static ModelBuild.Core.Tests.Targets.Samples;

namespace ModelBuild.Core.Tests.Targets;

/// <summary>deploy/kserve.yaml is read back with YamlDotNet and checked field by field.</summary>
public class KServeWriterTests
{
    private static List<YamlMappingNode> Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    private static YamlNode At(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            var map = Assert.IsType<YamlMappingNode>(node);
            Assert.True(map.Children.TryGetValue(new YamlScalarNode(key), out node!), $"missing '{key}'");
        }
        return node;
    }

    private static string S(YamlNode node, params string[] path) => Assert.IsType<YamlScalarNode>(At(node, path)).Value!;

    private static bool Has(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out node!)) return false;
        }
        return true;
    }

    private static KServeSpec Full() => new()
    {
        StorageUri = "gs://bucket/models/triton",
        Runtime = "kserve-tritonserver",
        MinReplicas = 1,
        MaxReplicas = 4,
        ScaleTarget = 10,
        ScaleMetric = ScaleMetricKind.Concurrency,
        Cpu = "2",
        Memory = "4Gi",
        Gpu = 1,
        Location = Where,
    };

    [Fact]
    public void Inference_service_carries_every_setting()
    {
        var doc = Assert.Single(Parse(KServeWriter.Write([new("fashion", Full(), Spec(8))])));

        Assert.Equal("serving.kserve.io/v1beta1", S(doc, "apiVersion"));
        Assert.Equal("InferenceService", S(doc, "kind"));
        Assert.Equal("fashion", S(doc, "metadata", "name"));
        Assert.Equal("1", S(doc, "spec", "predictor", "minReplicas"));
        Assert.Equal("4", S(doc, "spec", "predictor", "maxReplicas"));
        Assert.Equal("concurrency", S(doc, "spec", "predictor", "scaleMetric"));
        Assert.Equal("10", S(doc, "spec", "predictor", "scaleTarget"));
        var model = At(doc, "spec", "predictor", "model");
        Assert.Equal("triton", S(model, "modelFormat", "name"));
        Assert.Equal("kserve-tritonserver", S(model, "runtime"));
        Assert.Equal("v2", S(model, "protocolVersion"));
        Assert.Equal("gs://bucket/models/triton", S(model, "storageUri"));
        Assert.Equal("2", S(model, "resources", "requests", "cpu"));
        Assert.Equal("4Gi", S(model, "resources", "requests", "memory"));
        Assert.Equal("4Gi", S(model, "resources", "limits", "memory"));
        Assert.Equal("1", S(model, "resources", "limits", "nvidia.com/gpu"));
        Assert.False(Has(model, "resources", "requests", "nvidia.com/gpu"));
    }

    [Fact]
    public void Replica_counts_are_integers_and_strings_stay_strings()
    {
        var yaml = KServeWriter.Write([new("fashion", Full(), Spec(8))]);

        // Plain scalars for integers (Kubernetes rejects "1" for an int32 field), quoted scalars for strings.
        Assert.Contains("    minReplicas: 1\n", yaml);
        Assert.Contains("    scaleTarget: 10\n", yaml);
        Assert.Contains("          cpu: \"2\"\n", yaml);
        var min = Assert.IsType<YamlScalarNode>(At(Parse(yaml)[0], "spec", "predictor", "minReplicas"));
        Assert.Equal(YamlDotNet.Core.ScalarStyle.Plain, min.Style);
    }

    [Fact]
    public void Defaults_are_the_triton_runtime_and_a_placeholder_uri_without_autoscaling_or_resources()
    {
        var doc = Parse(KServeWriter.Write([new("fashion", new KServeSpec(), null)]))[0];

        var model = At(doc, "spec", "predictor", "model");
        Assert.Equal(KServeWriter.PlaceholderStorageUri, S(model, "storageUri"));
        Assert.Equal("kserve-tritonserver", S(model, "runtime"));
        Assert.False(Has(model, "resources"));
        Assert.False(Has(doc, "spec", "predictor", "minReplicas"));
        Assert.False(Has(doc, "spec", "predictor", "scaleMetric"));
    }

    [Fact]
    public void A_gpu_instance_group_asks_for_one_gpu_unless_told_otherwise()
    {
        var gpuTriton = Spec(8, null, new InstanceGroupSpec(InstanceKind.Gpu, 1));

        var implied = At(Parse(KServeWriter.Write([new("m", new KServeSpec(), gpuTriton)]))[0], "spec", "predictor", "model");
        Assert.Equal("1", S(implied, "resources", "limits", "nvidia.com/gpu"));
        Assert.False(Has(implied, "resources", "requests"));

        var none = At(Parse(KServeWriter.Write([new("m", new KServeSpec { Gpu = 0 }, gpuTriton)]))[0], "spec", "predictor", "model");
        Assert.False(Has(none, "resources"));

        var cpu = At(Parse(KServeWriter.Write([new("m", new KServeSpec(), Spec(8, null, new InstanceGroupSpec(InstanceKind.Cpu, 2)))]))[0], "spec", "predictor", "model");
        Assert.False(Has(cpu, "resources"));
    }

    [Fact]
    public void One_document_per_model_with_kubernetes_names()
    {
        var docs = Parse(KServeWriter.Write([new("fashion", new KServeSpec(), null), new("digits_mlp", new KServeSpec { ScaleMetric = ScaleMetricKind.Rps }, null)]));

        Assert.Equal(2, docs.Count);
        Assert.Equal("fashion", S(docs[0], "metadata", "name"));
        Assert.Equal("digits-mlp", S(docs[1], "metadata", "name"));
        Assert.Equal("digits_mlp", S(docs[1], "metadata", "labels", "modelbuild/model"));
        Assert.Equal("rps", S(docs[1], "spec", "predictor", "scaleMetric"));
    }

    [Fact]
    public void Names_that_collide_after_conversion_are_refused_even_past_manifest_validation()
    {
        // ManifestSet reports the clash to users (MB1007); the writer still never emits two services with one name.
        var ex = Assert.Throws<InvalidOperationException>(() =>
            KServeWriter.Write([new("a-b", new KServeSpec(), null), new("a_b", new KServeSpec { Location = Where }, null)]));
        Assert.Contains("both become InferenceService 'a-b'", ex.Message);
    }

    [Theory]
    [InlineData("s3://bucket/with \"quotes\" and \\ backslash")]
    [InlineData("https://host/path?x=1#frag: not a key")]
    [InlineData("s3://b/line\nbreak\ttab")]
    [InlineData("s3://b/ünïcødé/€")]
    public void Odd_values_round_trip_exactly(string uri)
    {
        var doc = Parse(KServeWriter.Write([new("m", new KServeSpec { StorageUri = uri }, null)]))[0];
        Assert.Equal(uri, S(doc, "spec", "predictor", "model", "storageUri"));
    }

    [Fact]
    public void Output_is_deterministic_text()
    {
        var services = new List<KServeWriter.Service> { new("fashion", Full(), Spec(8)) };
        var first = KServeWriter.Write(services);
        Assert.Equal(first, KServeWriter.Write(services));
        Assert.DoesNotContain('\r', first);
        Assert.EndsWith("\n", first);
        Assert.StartsWith("# Generated by ModelBuild.", first);
    }
}
